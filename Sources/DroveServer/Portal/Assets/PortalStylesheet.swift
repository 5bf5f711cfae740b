/// The portal's one stylesheet: system fonts, dark text on white (contrast at least 7:1 for
/// body text, 4.5:1 for badges), a focus ring on everything focusable.
enum PortalStylesheet {
    static let source = """
        :root {
          --text: #1b1f24; --muted: #4b5563; --line: #d8dee4; --bg: #ffffff; --panel: #f6f8fa;
          --accent: #0b57d0; --accent-dark: #0842a0; --focus: #0b57d0;
          --ok-fg: #0f5323; --ok-bg: #dafbe1; --warn-fg: #6b4200; --warn-bg: #fff3c4;
          --bad-fg: #8c0a1f; --bad-bg: #ffe4e6; --idle-fg: #374151; --idle-bg: #eef1f4;
          font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 15px; line-height: 1.5;
          color: var(--text); background: var(--bg);
        }
        * { box-sizing: border-box; }
        body { margin: 0; }
        code, textarea { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.88em; }
        a { color: var(--accent); }
        a:hover { color: var(--accent-dark); }
        :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 2px; }
        [hidden] { display: none !important; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
        .skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: 8px 12px; z-index: 2; }
        .skip:focus { left: 8px; }

        .top { display: flex; align-items: center; gap: 24px; flex-wrap: wrap; padding: 10px 32px;
               background: #14213d; color: #ffffff; }
        .top a { color: #ffffff; text-decoration: none; }
        .top :focus-visible { outline-color: #ffd166; }
        .brand { font-weight: 700; font-size: 1.25rem; letter-spacing: 0.02em; }
        .top nav ul { display: flex; gap: 4px; margin: 0; padding: 0; list-style: none; }
        .top nav a { display: block; padding: 6px 12px; border-radius: 6px; }
        .top nav a:hover { background: rgba(255, 255, 255, 0.12); }
        .top nav a[aria-current="page"] { background: #ffffff; color: #14213d; font-weight: 600; }
        .signout { margin-left: auto; display: flex; align-items: center; gap: 12px; }
        .who { font-size: 0.93rem; }
        .role { display: inline-block; margin-left: 4px; padding: 0 8px; border-radius: 10px; background: rgba(255, 255, 255, 0.18); }
        .live-state { margin: 0; font-size: 0.9rem; color: #ffd166; }

        main { max-width: 1200px; margin: 0 auto; padding: 8px 32px 32px; }
        h1 { font-size: 1.6rem; margin: 20px 0 12px; }
        h2 { font-size: 1.15rem; margin: 28px 0 10px; }
        section > h2:first-child { margin-top: 24px; }
        .bottom { max-width: 1200px; margin: 0 auto; padding: 16px 32px 32px; color: var(--muted); font-size: 0.85rem; }

        table { width: 100%; border-collapse: collapse; background: var(--bg); }
        th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        thead th { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted);
                   border-bottom: 2px solid var(--line); white-space: nowrap; }
        tbody th { font-weight: 600; white-space: nowrap; }
        tbody tr:hover { background: var(--panel); }
        .num { text-align: right; font-variant-numeric: tabular-nums; }
        .empty { color: var(--muted); font-style: italic; }
        .detail { color: var(--muted); font-size: 0.88rem; }
        .scroll { overflow-x: auto; }

        .badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 0.82rem; font-weight: 600;
                 white-space: nowrap; background: var(--idle-bg); color: var(--idle-fg); }
        .badge.ok { background: var(--ok-bg); color: var(--ok-fg); }
        .badge.warn { background: var(--warn-bg); color: var(--warn-fg); }
        .badge.bad { background: var(--bad-bg); color: var(--bad-fg); }
        .badges .badge { margin: 0 4px 4px 0; }
        .copy progress { width: 90px; vertical-align: middle; }
        .pct { font-size: 0.82rem; color: var(--muted); }

        .events { list-style: none; margin: 0; padding: 0; border-top: 1px solid var(--line); }
        .events li { display: grid; grid-template-columns: 9.5em 12em 9em 1fr; gap: 12px; padding: 6px 10px;
                     border-bottom: 1px solid var(--line); font-size: 0.92rem; }
        .events li.warn { background: #fffbeb; }
        .events time { color: var(--muted); font-variant-numeric: tabular-nums; }
        .events .subject { font-weight: 600; overflow-wrap: anywhere; }
        .events .reason { color: var(--muted); }

        .card { border: 1px solid var(--line); border-radius: 10px; padding: 4px 24px 20px; margin-top: 24px; background: var(--bg); }
        .narrow { max-width: 460px; margin: 40px auto; }
        .columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 24px; align-items: start; }
        .columns > .card { margin-top: 0; }
        .stack { display: flex; flex-direction: column; gap: 14px; align-items: flex-start; }
        .field { display: flex; flex-direction: column; gap: 4px; width: 100%; }
        .field label { font-weight: 600; }
        .hint { color: var(--muted); font-size: 0.88rem; }
        .check { display: flex; gap: 8px; align-items: center; }
        input, select, textarea { font: inherit; color: var(--text); padding: 7px 10px; border: 1px solid #8b949e; border-radius: 6px;
                                  background: var(--bg); width: 100%; max-width: 420px; }
        textarea { max-width: none; line-height: 1.45; }
        input[type="checkbox"] { width: auto; }
        [aria-invalid="true"] { border-color: var(--bad-fg); border-width: 2px; }
        .problems { margin: 2px 0 0; padding: 8px 12px 8px 28px; background: var(--bad-bg); color: var(--bad-fg); border-radius: 6px;
                    font-size: 0.9rem; white-space: pre-wrap; overflow-wrap: anywhere; }
        button, .button { font: inherit; font-weight: 600; padding: 7px 18px; border-radius: 6px; border: 1px solid var(--accent);
                          background: var(--accent); color: #ffffff; cursor: pointer; text-decoration: none; display: inline-block; }
        button:hover, .button:hover { background: var(--accent-dark); color: #ffffff; }
        button.quiet, .button.quiet { background: transparent; color: inherit; border-color: currentColor; }
        .top button.quiet:hover { background: rgba(255, 255, 255, 0.12); }
        .button.quiet { color: var(--accent); }
        .button.quiet:hover { background: var(--panel); color: var(--accent-dark); }
        button.danger { background: var(--bad-fg); border-color: var(--bad-fg); }
        button.danger:hover { background: #6b0718; }

        .filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-end; padding: 12px 16px; background: var(--panel);
                   border: 1px solid var(--line); border-radius: 10px; }
        .filters .field { width: auto; min-width: 160px; }
        .notice { padding: 10px 14px; border-radius: 8px; background: var(--idle-bg); color: var(--idle-fg); white-space: pre-wrap; }
        .notice.ok { background: var(--ok-bg); color: var(--ok-fg); }
        .notice.bad { background: var(--bad-bg); color: var(--bad-fg); }
        .facts { display: flex; flex-wrap: wrap; gap: 10px; margin: 0 0 16px; }
        .facts div { border: 1px solid var(--line); border-radius: 8px; padding: 6px 14px; min-width: 100px; }
        .facts dt { font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
        .facts dd { margin: 0; font-weight: 600; font-size: 1.05rem; }
        """
}
