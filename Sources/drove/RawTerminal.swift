import Foundation

/// Standard input's terminal in raw mode, for a console session: every key goes to the guest
/// as typed (Ctrl-C too), nothing is echoed here. `restore()` puts the saved settings back; a
/// SIGTERM or SIGHUP restores them as well before the process ends.
final class RawTerminal {
    /// Nil when standard input is not a terminal (nothing to switch, nothing to restore).
    init?() {
        var settings = termios()
        guard isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, &settings) == 0 else { return nil }
        savedTerminal = settings
        for signal in [SIGTERM, SIGHUP] { Foundation.signal(signal, restoreAndDie) }
        cfmakeraw(&settings)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &settings)
    }

    func restore() {
        var settings = savedTerminal
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &settings)
        for signal in [SIGTERM, SIGHUP] { Foundation.signal(signal, SIG_DFL) }
    }
}

// Written once before the signal handlers are installed, only read afterwards: a C signal
// handler can capture nothing, so it reads a global.
nonisolated(unsafe) private var savedTerminal = termios()

/// Restores the terminal (tcsetattr is async-signal-safe), then dies of the signal as it would have.
private let restoreAndDie: @convention(c) (Int32) -> Void = { signal in
    tcsetattr(STDIN_FILENO, TCSANOW, &savedTerminal)
    Foundation.signal(signal, SIG_DFL)
    raise(signal)
}
