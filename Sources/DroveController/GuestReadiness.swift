import DroveEngine
import DroveHost
import DroveManifest
import DrovePlan
import DroveStore
import Foundation

extension Controller {
    /// A VM that started but did not become ready within its set's readiness timeout: Failed,
    /// with the last lines of its serial console, which usually say why (a kernel panic, a
    /// boot stuck waiting for a disk, a guest without the agent the set waits for).
    func readinessTimedOut(_ vm: String, on host: String) async {
        guard let setName = Naming.set(ofVM: vm), let state = try? await desired.state(),
              let set = state.manifest.vmSet(named: setName) else { return }
        let readiness = SetTally.readiness(of: set, in: state.manifest)
        let timeout = DurationText.format(seconds: set.spec.readinessTimeout)
        let tail = await consoleTail(vm, on: host)
        let message = "not ready \(timeout) after it started (readiness: \(readiness.rawValue)); "
            + (tail.isEmpty ? "its console printed nothing" : "its console's last lines:\n\(tail)")
        // The event first: whoever sees the VM Failed finds the event already written.
        let reference = ObjectReference(kind: .vmSet, name: setName)
        _ = try? await store.appendEvent(NewEvent(object: reference, host: host, type: .warning, reason: .readinessTimedOut,
                                                  message: "\(vm) on \(host) \(message)"))
        phases.fail(vm, on: host, because: message)
        await queue.add(setName)
    }

    /// The last `lines` lines of the VM's console log, printable characters only; empty when
    /// it cannot be read.
    func consoleTail(_ vm: String, on host: String, lines: Int = 10) async -> String {
        guard let driver = view.drivers()[host] else { return "" }
        var bytes: [UInt8] = []
        var offset: UInt64 = 0
        // The log is small (a boot's worth); read it whole, keeping the last 64 KiB.
        while let chunk = try? await driver.consoleLog(vm: vm, from: offset), !chunk.bytes.isEmpty {
            bytes += chunk.bytes
            if bytes.count > 64 << 10 { bytes.removeFirst(bytes.count - (64 << 10)) }
            offset = chunk.nextOffset
        }
        return ConsoleText.lastLines(bytes, count: lines)
    }
}

/// Console output made fit for a status message.
enum ConsoleText {
    /// The last `count` non-empty lines, with terminal escape sequences (ESC [ … final byte,
    /// such as the `ESC[6n` a shell prompt asks with) and other control characters dropped.
    static func lastLines(_ bytes: [UInt8], count: Int) -> String {
        var kept = String.UnicodeScalarView()
        var escape = 0 // 0: text, 1: after ESC, 2: inside a CSI sequence
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch (escape, scalar.value) {
            case (0, 0x1b): escape = 1
            case (0, 0x0a), (0, 0x0d): kept.append("\n")
            case (0, let value) where value >= 0x20 && value != 0x7f: kept.append(scalar)
            case (0, _): break
            case (1, 0x5b): escape = 2
            case (1, let value) where (0x20...0x2f).contains(value): break // an intermediate byte (ESC ( B)
            case (1, _): escape = 0 // the escape's final byte
            case (2, let value) where (0x40...0x7e).contains(value): escape = 0
            default: break
            }
        }
        let lines = String(kept).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return lines.suffix(count).joined(separator: "\n")
    }
}
