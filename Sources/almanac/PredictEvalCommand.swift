import AlmanacPredict
import ArgumentParser
import Foundation

/// `almanac predict-eval`: replays real traces and series through the prediction library and prints metrics.
struct PredictEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict-eval",
        abstract: "Evaluate next-operation models and load forecasters on traces and time series.",
        subcommands: [PredictEvalOps.self, PredictEvalM4.self, PredictEvalCSV.self, PredictEvalSeries.self]
    )
}

func readText(_ path: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw ValidationError("cannot read \(path): \(error.localizedDescription)")
    }
}

func forecasters(_ spec: String) throws -> [any LoadForecaster] {
    let names = spec == "all" ? ForecasterCatalog.names : spec.split(separator: ",").map(String.init)
    return try names.map { n in
        guard let f = ForecasterCatalog.named(n) else {
            throw ValidationError("unknown forecaster '\(n)'; known: \(ForecasterCatalog.names.joined(separator: ", ")), all")
        }
        return f
    }
}

func fmt(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", x) }

/// M4 wide-format evaluation (official train/test split).
struct PredictEvalM4: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "m4", abstract: "Score forecasters on an M4 train/test pair (horizon 48, period 24).")
    @Option(help: "M4 train CSV (wide format).") var train: String
    @Option(help: "M4 test CSV (wide format).") var test: String
    @Option(help: "Comma-separated forecaster names, or 'all'.") var forecaster: String = "all"
    @Option(help: "Seasonal period for MASE.") var period: Int = 24
    @Flag(help: "Validation mode: ignore the test file's values; score on the last 48 values of train, fit on the rest.") var validation = false

    func run() throws {
        var tr = try SeriesFormats.parseM4(readText(train)), te = try SeriesFormats.parseM4(readText(test))
        if validation {
            te = tr.map { SeriesFormats.Series(id: $0.id, values: Array($0.values.suffix(48))) }
            tr = tr.map { SeriesFormats.Series(id: $0.id, values: Array($0.values.dropLast(48))) }
        }
        guard tr.count == te.count, zip(tr, te).allSatisfy({ $0.id == $1.id }) else {
            throw ValidationError("train and test series ids differ")
        }
        print("forecaster            h   sMAPE    MASE   logMSE  series  seconds")
        for f in try forecasters(forecaster) {
            let t0 = Date()
            let scores = ForecastEvaluation.m4(train: tr.map(\.values), test: te.map(\.values), forecaster: f, period: period)
            let dt = Date().timeIntervalSince(t0)
            for s in scores {
                print("\(f.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(format: "%3d", s.horizon)) \(fmt(s.sMAPE)) \(fmt(s.MASE)) \(fmt(s.logMSE, 4)) \(s.count) \(fmt(dt, 1))")
            }
        }
    }
}

/// `timestamp,value` CSV evaluation: rolling origin over the last 30%, plus hot-set precision@k across files.
struct PredictEvalCSV: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "csv", abstract: "Rolling-origin evaluation of timestamp,value series; hot-set precision@k across them.")
    @Argument(help: "CSV files (timestamp,value). Each file is one segment.") var files: [String]
    @Option(help: "Bucket width in seconds to aggregate to (e.g. 3600 for hourly).") var bucket: Int64 = 3600
    @Option(help: "Comma-separated forecaster names, or 'all'.") var forecaster: String = "all"
    @Option(help: "Hot-set size k.") var k: Int = 3
    @Option(help: "Hot-set horizon in buckets.") var hotHorizon: Int = 6
    @Option(help: "Origin step in buckets.") var step: Int = 1
    @Option(help: "Seasonal period (buckets) for MASE.") var period: Int = 24
    @Option(help: "Also score blended hot-set rankers: ';'-separated groups of ','-separated forecaster names (geometric mean of their totals), or 'default' for the chosen hot-set ranker.") var hotBlend: String?
    @Option(help: "Write per-origin hot-set totals (forecaster,origin,segment,predicted,actual) to this CSV file.") var dumpHot: String?
    @Option(help: "Validation mode: drop this final fraction of every series first (e.g. 0.3), so tuning never sees the test part.") var dropTail: Double = 0
    @Option(help: "Also score this hot-set ranker: 'default' (HotSetRanker.hourlyDefault) or 'learned' (the online learned ranker, configured by the --learned-* options).") var hotRanker: String?
    @Option(help: "Learned ranker features, ','-separated: last, mean<N>, lag<N>, or forecaster names (their forecast); 'default' for the chosen set.") var learnedFeatures: String = "default"
    @Option(help: "Learned ranker model: ridge, pairwise, or pairwise-topk (pairs straddling the actual top k only); 'default' for the chosen model (with --learned-features default).") var learnedModel: String = "default"
    @Option(help: "Learned ridge: weight kept by past origins per origin, in (0, 1].") var forgetting: Double = 1
    @Option(help: "Learned ridge: L2 penalty on the feature weights.") var ridge: Double = 10
    @Option(help: "Learned pairwise: SGD learning rate.") var learningRate: Double = 0.003
    @Option(help: "Learned pairwise: L2 penalty.") var l2: Double = 0.01
    @Option(help: "Learned ranker: first origin (bucket index) it trains from, if before the scored window.") var trainFrom: Int = 168

    func run() throws {
        guard (0..<0.9).contains(dropTail) else { throw ValidationError("drop-tail must be in [0, 0.9)") }
        guard bucket > 0, k > 0, hotHorizon > 0, step > 0 else { throw ValidationError("bucket, k, hot-horizon and step must be > 0") }
        if let hotRanker {
            guard ["default", "learned"].contains(hotRanker) else { throw ValidationError("unknown hot-ranker '\(hotRanker)'; known: default, learned") }
            if hotRanker == "learned" { _ = try learnedRanker() }  // reject a bad configuration before the slow part
        }
        var series: [[Double]] = []
        var starts: [Int64] = []
        for path in files {
            let pts = try SeriesFormats.parseTimestampValueCSV(readText(path))
            let b = SeriesFormats.bucketizeAligned(pts, width: bucket)
            series.append(b.values)
            starts.append(b.firstBucket)
        }
        // Align segments on common buckets for the hot-set evaluation.
        let lo = starts.max() ?? 0
        let hi = zip(starts, series).map { $0 + Int64($1.count) }.min() ?? 0
        guard hi > lo else { throw ValidationError("the series share no complete bucket") }
        var aligned = zip(starts, series).map { s, y in Array(y[Int(lo - s)..<Int(hi - s)]) }
        if dropTail > 0 {
            series = series.map { Array($0.prefix(Int(Double($0.count) * (1 - dropTail)))) }
            aligned = aligned.map { Array($0.prefix(Int(Double($0.count) * (1 - dropTail)))) }
        }
        if let dumpHot {
            var csv = "forecaster,origin,segment,predicted,actual\n"
            for f in try forecasters(forecaster) {
                for r in ForecastEvaluation.hotSetTotals(segments: aligned, forecaster: f, horizon: hotHorizon, step: step) {
                    for (i, (p, a)) in zip(r.predicted, r.actual).enumerated() { csv += "\(f.name),\(r.origin),\(i),\(p),\(a)\n" }
                }
            }
            do { try csv.write(toFile: dumpHot, atomically: true, encoding: .utf8) } catch { throw ValidationError("cannot write \(dumpHot): \(error.localizedDescription)") }
        }
        print("series: \(series.count), buckets: \(series.map(\.count)), aligned: \(hi - lo)")
        print("forecaster            h   sMAPE    MASE   logMSE  points  | hot-set P@\(k) h=\(hotHorizon) (sum 1..h / at h)  seconds")
        for f in try forecasters(forecaster) {
            let t0 = Date()
            let scores = ForecastEvaluation.rollingOrigin(series: series, forecaster: f, horizons: [1, 6, 24], step: step, period: period)
            let ranked = aligned.count > k
            let hotSum = ranked ? ForecastEvaluation.hotSetPrecision(segments: aligned, forecaster: f, k: k, horizon: hotHorizon, cumulative: true, step: step) : (precision: 0, origins: 0)
            let hotAt = ranked ? ForecastEvaluation.hotSetPrecision(segments: aligned, forecaster: f, k: k, horizon: hotHorizon, cumulative: false, step: step) : (precision: 0, origins: 0)
            let dt = Date().timeIntervalSince(t0)
            for s in scores {
                let hot = aligned.count > k ? "\(fmt(hotSum.precision)) / \(fmt(hotAt.precision)) (\(hotSum.origins) origins)" : "n/a (needs more than k series)"
                print("\(f.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(format: "%3d", s.horizon)) \(fmt(s.sMAPE)) \(fmt(s.MASE)) \(fmt(s.logMSE, 4)) \(s.count)  | \(hot) \(fmt(dt, 1))")
            }
        }
        if let hotRanker, aligned.count > k {
            switch hotRanker {
            case "default":
                let r = ForecastEvaluation.hotSetPrecision(segments: aligned, ranker: HotSetRanker.hourlyDefault(), k: k, horizon: hotHorizon, step: step)
                print("hot-set ranker \(HotSetRanker.hourlyDefault().name): P@\(k) h=\(hotHorizon) (sum 1..h) \(fmt(r.precision)) (\(r.origins) origins)")
            case "learned":
                let ranker = try learnedRanker()
                let t0 = Date()
                let r = ForecastEvaluation.hotSetPrecision(segments: aligned, learned: ranker, k: k, trainFrom: trainFrom, step: step)
                print("hot-set ranker \(ranker.name): P@\(k) h=\(hotHorizon) (sum 1..h) \(fmt(r.precision)) (\(r.origins) origins, trained on \(r.ranker.realisedOrigins) realised origins) \(fmt(Date().timeIntervalSince(t0), 1))s")
            default:
                throw ValidationError("unknown hot-ranker '\(hotRanker)'; known: default, learned")
            }
        }
        if let hotBlend, aligned.count > k {
            for group in hotBlend.split(separator: ";").map(String.init) {
                let ranker = group == "default" ? HotSetRanker.hourlyDefault() : HotSetRanker(forecasters: try forecasters(group))
                let t0 = Date()
                let r = ForecastEvaluation.hotSetPrecision(segments: aligned, ranker: ranker, k: k, horizon: hotHorizon, step: step)
                print("hot-set ranker \(ranker.name): P@\(k) h=\(hotHorizon) (sum 1..h) \(fmt(r.precision)) (\(r.origins) origins) \(fmt(Date().timeIntervalSince(t0), 1))s")
            }
        }
    }
}

extension PredictEvalCSV {
    /// The learned hot-set ranker described by the --learned-* options.
    func learnedRanker() throws -> LearnedHotSetRanker {
        guard trainFrom >= 1 else { throw ValidationError("train-from must be >= 1") }
        let chosen: LearnedHotSetRanker
        do { chosen = try LearnedHotSetRanker.hourlyDefault(horizon: hotHorizon) } catch { throw ValidationError("\(error)") }
        let model: LearnedHotSetRanker.Model
        switch learnedModel {
        case "default": model = chosen.model
        case "ridge": model = .ridge(forgetting: forgetting, ridge: ridge)
        case "pairwise": model = .pairwise(learningRate: learningRate, l2: l2)
        case "pairwise-topk": model = .pairwise(learningRate: learningRate, l2: l2, boundaryK: k)
        default: throw ValidationError("unknown learned-model '\(learnedModel)'; known: default, ridge, pairwise, pairwise-topk")
        }
        let features: [HotSetFeature]
        if learnedFeatures == "default" {
            features = chosen.features
        } else {
            features = try learnedFeatures.split(separator: ",").map(String.init).map { n in
                guard let f = HotSetFeature.named(n) else {
                    throw ValidationError("unknown learned feature '\(n)'; known: last, mean<N>, lag<N>, \(ForecasterCatalog.names.joined(separator: ", "))")
                }
                return f
            }
        }
        do { return try LearnedHotSetRanker(features: features, horizon: hotHorizon, model: model) } catch { throw ValidationError("\(error)") }
    }
}

/// Next-operation evaluation on `strace -ff -tt` traces (directories or .tar.gz archives).
struct PredictEvalOps: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ops", abstract: "Prequential next-operation evaluation on strace -ff -tt traces.")
    @Argument(help: "Trace directories (files PREFIX.<pid>) or .tar.gz archives of them.") var traces: [String]
    @Option(help: "Comma-separated prediction_model_type values (markov, rnn, last-successor, frequency, none), or 'all'.") var models: String = "all"
    @Option(help: "Cap on tracked (file, op) keys per table.") var maxKeys: Int = 65_536
    @Flag(help: "Print the full precision-coverage curve.") var curve = false
    @Option(help: "Print the first N mapped events of each trace (to check the event definition).") var dump: Int = 0

    func run() throws {
        let types: [PredictionModelType] = try (models == "all" ? PredictionModelType.allCases.map(\.rawValue) : models.split(separator: ",").map(String.init)).map { n in
            guard let t = PredictionModelType(rawValue: n) else { throw ValidationError("unknown model '\(n)'") }
            return t
        }
        for path in traces {
            let processes = try TraceArchive.load(path)
            guard !processes.isEmpty else { throw ValidationError("\(path): no PREFIX.<pid> files found") }
            let trace = OpTrace.build(processes: processes)
            print("== \(path): \(processes.count) processes, \(trace.syscalls) syscalls, \(trace.events.count) events, \(trace.paths.count) files, \(trace.collapsedRepeats) repeats collapsed, \(trace.skippedLines) unreadable lines")
            for e in trace.events.prefix(max(0, dump)) {
                print("   event t=\(e.time) pid=\(e.stream) \(e.op) \(trace.paths[Int(e.file)])")
            }
            print("   op mix: " + trace.opMix.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
            let top = trace.dropped.sorted { $0.value > $1.value }.prefix(8).map { "\($0.key) \($0.value)" }
            print("   dropped: " + top.joined(separator: ", "))
            print("   model            stream-top1 top3   file-top1 top3 | cov@P>=.95  P/cov/waste @0.5        @0.7               @0.9          | lead@0.7  bytes     ns/update ns/predict")
            let bounds = PredictorBounds(maxTrackedKeys: maxKeys)
            // The plain frequency table is also run with a +1 pseudo-count, a fairer confidence scale.
            var runs: [(PredictionModelType, any NextOpPredictor)] = types.map { ($0, $0.makePredictor(bounds: bounds)) }
            if let i = types.firstIndex(of: .frequency) { runs.insert((.frequency, FrequencyPredictor(bounds: bounds, prior: 1)), at: i + 1) }
            for (_, fresh) in runs {
                var model = fresh
                let r = PrequentialEvaluation.evaluate(&model, events: trace.events)
                let (upd, pred) = timing(fresh, events: trace.events)
                func p3(_ th: Double) -> String {
                    guard let p = r.point(th) else { return "-" }
                    return "\(fmt(p.precision, 2))/\(fmt(p.coverage, 2))/\(fmt(p.waste, 2))"
                }
                let lead = (r.point(0.7)?.medianLeadMicros ?? 0) / 1000
                print("   \(r.model.padding(toLength: 16, withPad: " ", startingAt: 0)) \(fmt(r.streamTop1 * 100, 1))       \(fmt(r.streamTop3 * 100, 1))   \(fmt(r.fileTop1 * 100, 1))     \(fmt(r.fileTop3 * 100, 1)) | \(fmt(r.coverage(atPrecision: 0.95) * 100, 1))       \(p3(0.5))  \(p3(0.7))  \(p3(0.9)) | \(fmt(lead, 2))ms  \(r.modelBytes)  \(fmt(upd, 0))  \(fmt(pred, 0))")
                if curve {
                    print("      threshold precision coverage issued/event waste")
                    for c in r.curve where Int((c.threshold * 100).rounded()) % 5 == 0 || c.threshold >= 0.9 { print("      \(fmt(c.threshold, 2))      \(fmt(c.precision, 3))     \(fmt(c.coverage, 3))    \(fmt(c.issuedPerEvent, 3))        \(fmt(c.waste, 3))") }
                }
                print("      (events scored: stream \(r.streamEvents), same-file \(r.fileEvents))")
            }
        }
    }

    /// Release-mode cost: ns per observe and per predictNext(limit 3), averaged over the whole trace; best of 3
    /// timing-only passes (the machine is shared, so the minimum is the least disturbed run).
    private func timing(_ fresh: any NextOpPredictor, events: [OpEvent]) -> (Double, Double) {
        let clock = ContinuousClock()
        var best = (Double.infinity, Double.infinity)
        var sink = 0
        func ns(_ d: Duration) -> Double { Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9 }
        for _ in 0..<3 {
            var m = fresh
            var observe = Duration.zero, predict = Duration.zero
            for e in events {
                let t0 = clock.now
                m.observe(e)
                let t1 = clock.now
                sink &+= m.predictNext(stream: e.stream, limit: 3).count
                predict += clock.now - t1
                observe += t1 - t0
            }
            let n = Double(max(1, events.count))
            best = (min(best.0, ns(observe) / n), min(best.1, ns(predict) / n))
        }
        if sink == -1 { print("") }
        return best
    }
}
