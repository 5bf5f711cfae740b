/// The overview (`/`) and the partials other pages share: a condition badge, the events list.
enum OverviewTemplates {
    /// A condition as a badge: `tone` is ok, warn, bad or idle (the CSS colours).
    static let badge = """
        <span class="badge {{tone}}" title="{{type}}: {{reason}}{{#message}} — {{.}}{{/message}}">{{label}}</span>
        """

    static let events = """
        {{#events}}
        <ol class="events">
          {{#items}}
          <li class="{{tone}}">
            <time datetime="{{time}}">{{clock}}</time>
            <span class="subject">{{subject}}</span>
            <span class="reason">{{reason}}</span>
            <span class="message">{{message}}</span>
          </li>
          {{/items}}
        </ol>
        {{^items}}<p class="empty">No events yet.</p>{{/items}}
        {{/events}}
        """

    static let overview = """
        {{> head}}
        <section aria-labelledby="hosts-h" id="hosts" data-live>
          <h2 id="hosts-h">Hosts</h2>
          <table>
            <thead><tr><th scope="col">Host</th><th scope="col">Reachable</th><th scope="col" class="num">VMs</th>
              <th scope="col" class="num">vCPUs claimed</th><th scope="col" class="num">Memory claimed</th><th scope="col">URI</th></tr></thead>
            <tbody>
            {{#hosts}}
              <tr><th scope="row">{{name}}</th><td>{{#ready}}{{> badge}}{{/ready}}</td><td class="num">{{vms}}</td>
                <td class="num">{{vcpus}}</td><td class="num">{{memory}}</td><td><code>{{uri}}</code></td></tr>
            {{/hosts}}
            {{^hosts}}<tr><td colspan="6" class="empty">No hosts declared. Apply a Host manifest to add one.</td></tr>{{/hosts}}
            </tbody>
          </table>
        </section>

        <section aria-labelledby="sets-h" id="sets" data-live>
          <h2 id="sets-h">VM sets</h2>
          <table>
            <thead><tr><th scope="col">Set</th><th scope="col">Template</th><th scope="col" class="num">Ready</th>
              <th scope="col">Conditions</th></tr></thead>
            <tbody>
            {{#sets}}
              <tr><th scope="row"><a href="{{href}}">{{name}}</a></th><td>{{template}}</td><td class="num">{{readyCount}}</td>
                <td class="badges">{{#conditions}}{{> badge}} {{/conditions}}{{^conditions}}<span class="badge idle">waiting for the controller</span>{{/conditions}}</td></tr>
            {{/sets}}
            {{^sets}}<tr><td colspan="4" class="empty">No VM sets yet. <a href="/deploy">Deploy one.</a></td></tr>{{/sets}}
            </tbody>
          </table>
        </section>

        <section aria-labelledby="templates-h" id="templates" data-live>
          <h2 id="templates-h">Templates</h2>
          <table>
            <thead><tr><th scope="col">Template</th><th scope="col">Ready</th><th scope="col">On hosts</th></tr></thead>
            <tbody>
            {{#templates}}
              <tr><th scope="row">{{name}}</th><td>{{#ready}}{{> badge}}{{/ready}}</td><td>{{presence}}</td></tr>
            {{/templates}}
            {{^templates}}<tr><td colspan="3" class="empty">No templates. <a href="/templates">Upload one.</a></td></tr>{{/templates}}
            </tbody>
          </table>
        </section>

        <section aria-labelledby="events-h" id="recent-events" data-live>
          <h2 id="events-h">Recent events</h2>
          {{> events}}
        </section>
        {{> foot}}
        """
}
