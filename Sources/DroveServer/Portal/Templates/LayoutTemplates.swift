/// The frame every page shares (partials `head` and `foot`), the sign-in page and the error
/// page. Every value goes through `{{ }}`, which escapes HTML; no template uses `{{{ }}}`.
enum LayoutTemplates {
    static let head = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{#chrome.csrf}}<meta name="drove-csrf" content="{{.}}">{{/chrome.csrf}}
        <title>{{chrome.title}} · Drove</title>
        <link rel="stylesheet" href="{{chrome.css}}">
        <script src="{{chrome.js}}" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/">Drove</a>
          {{#chrome.user}}
          <nav aria-label="Main">
            <ul>
              <li><a href="/"{{#chrome.nav.overview}} aria-current="page"{{/chrome.nav.overview}}>Overview</a></li>
              <li><a href="/templates"{{#chrome.nav.templates}} aria-current="page"{{/chrome.nav.templates}}>Templates</a></li>
              <li><a href="/vms"{{#chrome.nav.vms}} aria-current="page"{{/chrome.nav.vms}}>VMs</a></li>
              <li><a href="/deploy"{{#chrome.nav.deploy}} aria-current="page"{{/chrome.nav.deploy}}>Deploy</a></li>
            </ul>
          </nav>
          <form class="signout" method="post" action="/signout">
            <input type="hidden" name="csrf" value="{{chrome.csrf}}">
            <span class="who">{{name}} <span class="role">{{role}}</span></span>
            <button type="submit" class="quiet">Sign out</button>
          </form>
          {{/chrome.user}}
          {{#chrome.live}}<p class="live-state" id="live-state" role="status" hidden></p>{{/chrome.live}}
        </header>
        <main id="main"{{#chrome.live}} data-watch{{/chrome.live}}>
        <h1>{{chrome.heading}}</h1>
        """

    static let foot = """
        </main>
        <footer class="bottom"><p>Drove · pages follow the fleet live while JavaScript runs; without it, reload to see changes.</p></footer>
        </body>
        </html>
        """

    static let signIn = """
        {{> head}}
        <section class="card narrow">
          <p>Sign in with your API token: the one in the server's <code>--token-file</code>, or one <code>drove users add</code> printed.</p>
          {{#error}}<p class="notice bad" role="alert" id="signin-error">{{.}}</p>{{/error}}
          <form method="post" action="/signin" class="stack">
            <input type="hidden" name="signin" value="{{signinToken}}">
            <input type="hidden" name="next" value="{{next}}">
            <label for="token">Token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus
                   {{#error}}aria-invalid="true" aria-describedby="signin-error"{{/error}}>
            <button type="submit">Sign in</button>
          </form>
        </section>
        {{> foot}}
        """

    static let error = """
        {{> head}}
        <section class="card narrow">
          <p class="notice bad" role="alert">{{message}}</p>
          <p><a href="{{back}}">{{backLabel}}</a></p>
        </section>
        {{> foot}}
        """
}
