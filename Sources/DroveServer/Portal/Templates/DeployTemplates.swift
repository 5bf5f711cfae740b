/// The deploy page (`/deploy`) and a VM set's page (`/vmsets/{name}`).
enum DeployTemplates {
    /// A field's problems, under it; `id` is what the input's `aria-describedby` names.
    static let problems = """
        {{#invalid}}<ul class="problems" id="{{id}}-problems">{{#problems}}<li>{{.}}</li>{{/problems}}</ul>{{/invalid}}
        """

    static let deploy = """
        {{> head}}
        {{#error}}<p class="notice bad" role="alert">{{.}}</p>{{/error}}
        <div class="columns">
        <section aria-labelledby="form-h" class="card">
          <h2 id="form-h">From a template</h2>
          <form method="post" action="/deploy" class="stack" novalidate>
            <input type="hidden" name="csrf" value="{{chrome.csrf}}">
            <input type="hidden" name="mode" value="form">
            {{#form}}
            {{#fields}}
            <div class="field{{#invalid}} invalid{{/invalid}}">
              <label for="{{id}}">{{label}}</label>
              {{#options}}
              <select id="{{id}}" name="{{name}}"{{#invalid}} aria-invalid="true" aria-describedby="{{id}}-problems"{{/invalid}}>
                {{#choices}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/choices}}
              </select>
              {{/options}}
              {{^options}}
              <input id="{{id}}" name="{{name}}" value="{{value}}" inputmode="{{inputMode}}" autocomplete="off"
                     {{#hint}}placeholder="{{.}}"{{/hint}}{{#invalid}} aria-invalid="true" aria-describedby="{{id}}-problems"{{/invalid}}>
              {{/options}}
              {{> problems}}
            </div>
            {{/fields}}
            {{/form}}
            <button type="submit">Deploy</button>
          </form>
        </section>

        <section aria-labelledby="yaml-h" class="card">
          <h2 id="yaml-h">Or paste YAML</h2>
          <form method="post" action="/deploy" class="stack">
            <input type="hidden" name="csrf" value="{{chrome.csrf}}">
            <input type="hidden" name="mode" value="yaml">
            {{#yaml}}
            <div class="field{{#invalid}} invalid{{/invalid}}">
              <label for="{{id}}">Manifests ({{fileName}})</label>
              <textarea id="{{id}}" name="yaml" rows="16" spellcheck="false"
                        {{#invalid}}aria-invalid="true" aria-describedby="{{id}}-problems"{{/invalid}}>{{value}}</textarea>
              {{> problems}}
            </div>
            {{/yaml}}
            <button type="submit">Apply</button>
          </form>
        </section>
        </div>
        {{> foot}}
        """

    static let vmSet = """
        {{> head}}
        {{#notice}}<p class="notice {{tone}}" role="status">{{text}}</p>{{/notice}}
        <section aria-labelledby="rollout-h" id="rollout" data-live>
          <h2 id="rollout-h">Rollout</h2>
          <dl class="facts">
            <div><dt>Template</dt><dd>{{template}}</dd></div>
            <div><dt>Generation</dt><dd>{{generation}}{{#observed}} (controller has seen {{.}}){{/observed}}</dd></div>
            {{#counters}}<div><dt>{{label}}</dt><dd>{{value}}</dd></div>{{/counters}}
            {{#deleting}}<div><dt>Deletion</dt><dd><span class="badge warn">requested</span></dd></div>{{/deleting}}
          </dl>
          <table>
            <thead><tr><th scope="col">Condition</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Message</th>
              <th scope="col">Since</th></tr></thead>
            <tbody>
            {{#conditions}}
              <tr><th scope="row">{{type}}</th><td>{{> badge}}</td><td>{{reason}}</td><td>{{message}}</td>
                <td><time datetime="{{since}}">{{sinceClock}}</time></td></tr>
            {{/conditions}}
            {{^conditions}}<tr><td colspan="5" class="empty">The controller has not looked at this set yet.</td></tr>{{/conditions}}
            </tbody>
          </table>
        </section>

        <section aria-labelledby="vms-h" id="set-vms" data-live>
          <h2 id="vms-h">VMs</h2>
          {{> vmTable}}
        </section>

        {{#canChange}}
        <section aria-labelledby="change-h" class="card">
          <h2 id="change-h">Change</h2>
          <div class="columns">
          <form method="post" action="{{scaleAction}}" class="stack">
            <input type="hidden" name="csrf" value="{{chrome.csrf}}">
            <div class="field"><label for="replicas">Replicas</label>
              <input id="replicas" name="replicas" type="number" min="0" max="10000" value="{{replicas}}" required></div>
            <button type="submit">Scale</button>
          </form>
          <form method="post" action="{{deleteAction}}" class="stack">
            <input type="hidden" name="csrf" value="{{chrome.csrf}}">
            <div class="check"><input id="confirm" name="confirm" type="checkbox" value="yes" required>
              <label for="confirm">Delete {{name}}, its VMs and their disks</label></div>
            <button type="submit" class="danger">Delete</button>
          </form>
          </div>
        </section>
        {{/canChange}}

        <section aria-labelledby="events-h" id="set-events" data-live>
          <h2 id="events-h">Events</h2>
          {{> events}}
        </section>
        {{> foot}}
        """
}
