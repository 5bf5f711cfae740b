import Foundation

/// Repeated measurements of one figure: the median is what the tables report, min and max
/// show the spread, and every sample is kept in the JSON.
struct Summary: Codable, Sendable {
    var median: Double
    var min: Double
    var max: Double
    /// For per-action times, which can be bimodal (a full copy either fits in the page cache or
    /// waits for writeback), the mean says more about a deployment's total than the median.
    var mean: Double
    var samples: [Double]

    init(_ samples: [Double]) {
        precondition(!samples.isEmpty, "a summary needs at least one sample")
        let sorted = samples.sorted()
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        min = sorted.first!
        max = sorted.last!
        mean = samples.reduce(0, +) / Double(samples.count)
        self.samples = samples
    }
}

/// Samples gathered under names, in the order runs happen (so alternating variants interleave).
struct Samples: Sendable {
    private(set) var values: [String: [Double]] = [:]

    mutating func add(_ key: String, _ value: Double) {
        values[key, default: []].append(value)
    }

    func summary(_ key: String) -> Summary? {
        values[key].flatMap { $0.isEmpty ? nil : Summary($0) }
    }
}

/// Wall-clock seconds of `body`.
func timed<T>(_ body: () async throws -> T) async rethrows -> (seconds: Double, value: T) {
    let clock = ContinuousClock()
    let start = clock.now
    let value = try await body()
    return (seconds(clock.now - start), value)
}

func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
}

/// `rotated(by:)` gives every variant each position in turn across runs, so no variant always
/// runs first (on a cold cache) or last (after the others warmed or filled the disk).
extension Array {
    func rotated(by shift: Int) -> [Element] {
        guard !isEmpty else { return self }
        let k = ((shift % count) + count) % count
        return Array(self[k...] + self[..<k])
    }
}

// MARK: Formatting

enum Format {
    static func seconds(_ value: Double) -> String {
        if value < 0.001 { return String(format: "%.0f µs", value * 1e6) }
        if value < 1 { return String(format: "%.0f ms", value * 1e3) }
        if value < 10 { return String(format: "%.2f s", value) }
        return String(format: "%.1f s", value)
    }

    /// `1.23 s (1.10–1.40)`
    static func summary(_ summary: Summary?) -> String {
        guard let summary else { return "—" }
        return "\(seconds(summary.median)) (\(seconds(summary.min))–\(seconds(summary.max)))"
    }

    static func percent(_ fraction: Double?) -> String {
        guard let fraction, fraction.isFinite else { return "—" }
        return String(format: "%+.1f%%", fraction * 100)
    }

    static func ratio(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        return String(format: "%.3f", value)
    }

    static func bytes(_ value: UInt64) -> String {
        let v = Double(value)
        if v >= Double(1 << 30) { return String(format: "%.2f GiB", v / Double(1 << 30)) }
        if v >= Double(1 << 20) { return String(format: "%.1f MiB", v / Double(1 << 20)) }
        if v >= Double(1 << 10) { return String(format: "%.1f KiB", v / Double(1 << 10)) }
        return "\(value) B"
    }
}

/// A plain text table: a header row and aligned columns.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) {
        self.header = header
    }

    mutating func add(_ cells: String...) {
        rows.append(cells)
    }

    mutating func add(_ cells: [String]) {
        rows.append(cells)
    }

    func render() -> String {
        let all = [header] + rows
        let widths = (0..<header.count).map { column in
            all.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// Progress lines on standard error, so standard output holds only the tables.
enum Progress {
    static func say(_ text: String) {
        FileHandle.standardError.write(Data("[drove-bench] \(text)\n".utf8))
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// This process's memory, as the kernel counts it (/proc/self/status).
enum Memory {
    /// VmHWM, the peak resident set of this process's own address space, in bytes. (getrusage's
    /// ru_maxrss would not do: across exec it keeps the peak of the parent it was spawned from.)
    static func peakResidentBytes() -> Int { status("VmHWM:") }

    /// VmRSS, the resident set now, in bytes.
    static func residentBytes() -> Int { status("VmRSS:") }

    private static func status(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field) } ?? ""
        return (line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 1024
    }
}

/// CPU time spent while something ran: the whole machine's (from /proc/stat) and this
/// process's own (Drove's engine runs in it), to tell a CPU-bound deployment from one that waits.
struct CPUMeter {
    struct Reading {
        var machineBusy: Double
        var machineTotal: Double
        var process: Double
    }

    struct Usage: Codable, Sendable {
        /// Busy CPU-seconds of the whole machine (all processes: libvirtd, QEMU, Drove).
        var machineSeconds: Double
        /// Busy share of the machine's capacity over the interval (1 = every core busy throughout).
        var machineShare: Double
        /// CPU-seconds of this process (the engine or the hand-written loop, and the benchmark).
        var processSeconds: Double
    }

    static func read() -> Reading {
        let stat = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
        let fields = stat.split(separator: "\n").first?.split(separator: " ").dropFirst().compactMap { Double($0) } ?? []
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let busy = fields.count >= 8 ? (fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]) : 0
        let total = fields.count >= 8 ? busy + fields[3] + fields[4] : 0
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let process = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return Reading(machineBusy: busy / ticks, machineTotal: total / ticks, process: process)
    }

    static func usage(from start: Reading, to end: Reading) -> Usage {
        let busy = end.machineBusy - start.machineBusy
        let total = end.machineTotal - start.machineTotal
        return Usage(machineSeconds: busy, machineShare: total > 0 ? busy / total : 0, processSeconds: end.process - start.process)
    }
}
