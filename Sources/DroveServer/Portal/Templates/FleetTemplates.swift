/// The templates page (`/templates`) and the VMs page (`/vms`).
enum FleetTemplates {
    static let templates = """
        {{> head}}
        <section aria-labelledby="list-h" id="template-list" data-live>
          <h2 id="list-h" class="visually-hidden">Every template</h2>
          <div class="scroll">
          <table>
            <thead><tr><th scope="col">Template</th><th scope="col">Owner</th><th scope="col">Visibility</th>
              <th scope="col">Digest</th><th scope="col" class="num">Size</th>
              {{#hostNames}}<th scope="col">{{.}}</th>{{/hostNames}}</tr></thead>
            <tbody>
            {{#templates}}
              <tr><th scope="row">{{name}}</th><td>{{owner}}</td><td>{{visibility}}</td><td><code title="{{digest}}">{{shortDigest}}</code></td>
                <td class="num">{{size}}</td>
                {{#copies}}<td class="copy">
                  <span class="badge {{tone}}">{{state}}</span>
                  {{#percent}}<progress max="100" value="{{.}}" aria-label="copy to {{host}}">{{.}}%</progress> <span class="pct">{{.}}%</span>{{/percent}}
                  {{#message}}<span class="detail">{{.}}</span>{{/message}}
                </td>{{/copies}}</tr>
            {{/templates}}
            {{^templates}}<tr><td colspan="{{columns}}" class="empty">No templates yet.</td></tr>{{/templates}}
            </tbody>
          </table>
          </div>
        </section>

        <section aria-labelledby="upload-h" class="card">
          <h2 id="upload-h">Upload a template</h2>
          <p class="js-off" id="upload-needs-js">Uploading from the browser needs JavaScript. From a shell:
            <code>drove template push FILE --name NAME [--visibility shared]</code></p>
          <form id="upload" class="stack" hidden data-csrf="{{chrome.csrf}}">
            <div class="field"><label for="upload-name">Name</label>
              <input id="upload-name" name="name" required pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" maxlength="63"
                     aria-describedby="upload-name-hint"><span class="hint" id="upload-name-hint">lower-case letters, digits and dashes</span></div>
            <div class="field"><label for="upload-visibility">Visibility</label>
              <select id="upload-visibility" name="visibility"><option value="private">private (you and admins)</option>
                <option value="shared">shared (every user)</option></select></div>
            <div class="field"><label for="upload-file">qcow2 image</label>
              <input id="upload-file" name="file" type="file" required></div>
            <button type="submit">Upload</button>
            <div class="field"><label for="upload-progress">Progress</label>
              <progress id="upload-progress" max="100" value="0">0%</progress></div>
            <p id="upload-status" role="status" class="hint"></p>
          </form>
        </section>
        {{> foot}}
        """

    static let vms = """
        {{> head}}
        <form class="filters" method="get" action="/vms" aria-label="Filter VMs">
          <div class="field"><label for="f-set">Set</label>
            <select id="f-set" name="set"><option value="">any</option>{{#filters.sets}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/filters.sets}}</select></div>
          <div class="field"><label for="f-host">Host</label>
            <select id="f-host" name="host"><option value="">any</option>{{#filters.hosts}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/filters.hosts}}</select></div>
          <div class="field"><label for="f-phase">Phase</label>
            <select id="f-phase" name="phase"><option value="">any</option>{{#filters.phases}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/filters.phases}}</select></div>
          <button type="submit">Filter</button>
          <a href="/vms" class="button quiet">Clear</a>
        </form>
        <section aria-labelledby="vms-h" id="vm-list" data-live>
          <h2 id="vms-h">{{countText}}</h2>
          {{> vmTable}}
        </section>
        {{> foot}}
        """

    /// A table of VMs, shared by the VMs page and a set's page.
    static let vmTable = """
        <div class="scroll">
        <table class="vms">
          <thead><tr><th scope="col">VM</th><th scope="col">Set</th><th scope="col">Host</th><th scope="col">Phase</th>
            <th scope="col">Ready</th><th scope="col">IPs</th><th scope="col">Detail</th></tr></thead>
          <tbody>
          {{#vms}}
            <tr data-vm="{{name}}"><th scope="row">{{name}}</th><td><a href="{{setHref}}">{{set}}</a></td><td>{{host}}</td>
              <td><span class="badge {{tone}}">{{phase}}</span></td><td>{{ready}}</td><td>{{#addresses}}<code>{{.}}</code> {{/addresses}}</td>
              <td class="detail">{{message}}</td></tr>
          {{/vms}}
          {{^vms}}<tr><td colspan="7" class="empty">No VMs{{#filtered}} match these filters{{/filtered}}.</td></tr>{{/vms}}
          </tbody>
        </table>
        </div>
        """
}
