/// A min-heap of timed items, ordered by (time, insertion sequence) so equal times stay deterministic.
struct EventQueue<Item: Sendable>: Sendable {
    private struct Slot {
        var time: UInt64
        var sequence: UInt64
        var item: Item
    }

    private var heap: [Slot] = []
    private var nextSequence: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ item: Item, at time: UInt64) {
        heap.append(Slot(time: time, sequence: nextSequence, item: item))
        nextSequence &+= 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (time: UInt64, item: Item)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && less(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && less(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.item)
    }

    private func less(_ a: Slot, _ b: Slot) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }
}
