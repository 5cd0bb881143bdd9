import AlmanacSecurity
import AlmanacServer
import AlmanacWire
import Foundation
import Testing

/// The pure parts of authorization: what each request needs, prefix coverage, token verification.
@Suite struct AccessRulesTests {
    @Test func prefixesCoverComponentWise() {
        #expect(AccessGrant.covers(prefix: "/a", path: "/a"))
        #expect(AccessGrant.covers(prefix: "/a", path: "/a/b/c"))
        #expect(!AccessGrant.covers(prefix: "/a", path: "/ab"))
        #expect(AccessGrant.covers(prefix: "/", path: "/anything"))
        #expect(AccessGrant.normalize("/a//b/") == "/a/b")
        #expect(AccessGrant.normalize("a/b") == nil)
        #expect(AccessGrant.normalize("/a/../b") == nil)
        let grant = AccessGrant(subject: "s", read: ["/r"], write: ["/w"], expires: Date())
        #expect(grant.allows(.read, path: "/w/x") && grant.allows(.read, path: "/r/x"))
        #expect(grant.allows(.write, path: "/w/x") && !grant.allows(.write, path: "/r/x"))
    }

    @Test func renameAndLinkNeedBothSidesShardCommandsNeedTheInternalRight() {
        var request = Almanac_Api_V1_Request()
        var rename = Almanac_Api_V1_RenameRequest()
        rename.parent = 5; rename.name = "x"; rename.newParent = 9; rename.newName = "y"
        request.rename = rename
        #expect(AccessRequirement.of(request) == [
            .entry(.write, parent: 5, name: "x", traverse: false), .entry(.write, parent: 9, name: "y", traverse: false),
        ])
        var link = Almanac_Api_V1_LinkRequest()
        link.inode = 7; link.newParent = 9; link.newName = "z"
        request.link = link
        #expect(AccessRequirement.of(request) == [.inode(.read, 7, traverse: false), .entry(.write, parent: 9, name: "z", traverse: false)])
        request.shardCommand = Almanac_Api_V1_ShardCommandRequest()
        #expect(AccessRequirement.of(request) == [.admin])
        var open = Almanac_Api_V1_OpenRequest()
        open.parent = 3; open.name = "f"; open.flags = UInt32(Almanac_Api_V1_OpenFlag.read.rawValue)
        request.open = open
        #expect(AccessRequirement.of(request) == [.entry(.read, parent: 3, name: "f", traverse: false)])
        open.flags |= UInt32(Almanac_Api_V1_OpenFlag.write.rawValue)
        request.open = open
        #expect(AccessRequirement.of(request) == [.entry(.write, parent: 3, name: "f", traverse: false)])
        request.lookup = Almanac_Api_V1_LookupRequest()
        #expect(AccessRequirement.of(request) == [.entry(.read, parent: 0, name: "", traverse: true)])
    }

    @Test func placementCallsNeedReadOnTheKeyOrTheAdminRightToAct() {
        var request = Almanac_Api_V1_Request()
        var predict = Almanac_Api_V1_PredictAccessPatternCall()
        predict.inode = 12
        request.placement.call = .predictAccessPattern(predict)
        #expect(AccessRequirement.of(request) == [.inode(.read, 12, traverse: true)])
        var plan = Almanac_Api_V1_PlanMigrationCall()
        plan.inode = 13
        request.placement.call = .planMigration(plan)
        #expect(AccessRequirement.of(request) == [.inode(.read, 13, traverse: true)])
        var locate = Almanac_Api_V1_GetShardLocationCall()
        locate.inode = 14
        request.placement.call = .getShardLocation(locate)
        #expect(AccessRequirement.of(request) == [.inode(.read, 14, traverse: true)])
        request.placement.call = .executeMigration(Almanac_Api_V1_ExecuteMigrationCall())
        #expect(AccessRequirement.of(request) == [.admin])
        var trigger = Almanac_Api_V1_TriggerReshardingCall()
        request.placement.call = .triggerResharding(trigger)
        #expect(AccessRequirement.of(request) == [.admin])
        trigger.dryRun = true
        request.placement.call = .triggerResharding(trigger)
        #expect(AccessRequirement.of(request) == [.authenticated])
    }

    @Test func tokensVerifyOnlyWithTheirKeyAndUntilTheyExpire() async throws {
        let authority = try await TokenAuthority.make(secret: Array(repeating: 7, count: 32))
        let other = try await TokenAuthority.make(secret: Array(repeating: 8, count: 32))
        let now = Date()
        let grant = AccessGrant(subject: "alice", read: ["/r"], write: ["/w/"], expires: now.addingTimeInterval(60))
        let token = try await authority.issue(grant, now: now)
        let verified = try authority.verify(token, now: now)
        #expect(verified.subject == "alice" && verified.read == ["/r"] && verified.write == ["/w"] && !verified.admin)
        #expect(throws: TokenError.self) { try other.verify(token, now: now) }
        #expect(throws: TokenError.self) { try authority.verify(token, now: now.addingTimeInterval(61)) }
        #expect(throws: TokenError.self) { try authority.verify("garbage", now: now) }
        // A payload edited after signing (write on "/" instead) fails the signature.
        let parts = token.split(separator: ".").map(String.init)
        let forged = AccessGrant(subject: "alice", read: [], write: ["/"], expires: now.addingTimeInterval(60))
        let forgedParts = try await other.issue(forged, now: now).split(separator: ".").map(String.init)
        #expect(throws: TokenError.self) { try authority.verify([parts[0], forgedParts[1], parts[2]].joined(separator: "."), now: now) }
        await #expect(throws: SecurityError.self) { _ = try await TokenAuthority.make(secret: [1, 2, 3]) }
    }
}
