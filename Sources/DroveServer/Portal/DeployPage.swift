import DroveAPI
import DroveManifest
import Foundation

/// The deploy page: a VM set from a form (template, name, replicas, resources) or pasted YAML.
/// Both become manifest text that `apply` checks as strictly as the CLI's; its diagnostics come
/// back next to the input they concern.
struct DeployPage {
    var chrome: Chrome
    var error: String?
    var form: Form
    var yaml: YAMLInput

    struct Form {
        var fields: [Field]
    }

    struct Field {
        var id: String
        var name: String
        var label: String
        var value: String
        var hint: String?
        var inputMode: String
        var options: Options?
        var problems: [String]
        var invalid: Bool

        struct Options {
            var choices: [Choice]
        }
    }

    struct YAMLInput {
        var id = "yaml"
        var fileName = DeployInput.yamlFileName
        var value: String
        var problems: [String]
        var invalid: Bool
    }

    /// The page with `input` filled in and `diagnostics` placed: a form field's under it, the
    /// rest under the YAML (when that was sent) or at the top.
    static func make(_ chrome: Chrome, templates: [String], input: DeployInput, diagnostics: [Diagnostic] = [], error: String? = nil) -> DeployPage {
        var fieldProblems: [String: [String]] = [:]
        var yamlProblems: [String] = []
        var general: [String] = []
        for diagnostic in diagnostics {
            switch input.mode {
            case .yaml:
                yamlProblems.append(diagnostic.description)
            case .form:
                if let field = DeployInput.field(forPath: diagnostic.path) {
                    fieldProblems[field, default: []].append(diagnostic.message)
                } else {
                    general.append(diagnostic.description)
                }
            }
        }
        let template = input.values["template"] ?? templates.first ?? ""
        let templateChoices = (templates.contains(template) || template.isEmpty ? templates : [template] + templates)
            .map { Choice(value: $0, selected: $0 == template) }
        func field(_ name: String, _ label: String, hint: String? = nil, numeric: Bool = false) -> Field {
            Field(id: "deploy-\(name)", name: name, label: label, value: input.values[name] ?? DeployInput.defaults[name] ?? "",
                  hint: hint, inputMode: numeric ? "numeric" : "text", options: nil, problems: fieldProblems[name] ?? [],
                  invalid: fieldProblems[name] != nil)
        }
        var templateField = field("template", "Template")
        templateField.options = Field.Options(choices: templateChoices)
        let fields = [
            templateField,
            field("name", "Name", hint: "e.g. web"),
            field("replicas", "Replicas", numeric: true),
            field("vcpus", "vCPUs per VM", numeric: true),
            field("memory", "Memory per VM", hint: "e.g. 128Mi, 1Gi"),
        ]
        let messages = [error].compactMap { $0 } + general
        return DeployPage(
            chrome: chrome, error: messages.isEmpty ? nil : messages.joined(separator: "\n"), form: Form(fields: fields),
            yaml: YAMLInput(value: input.mode == .yaml ? input.values["yaml"] ?? "" : "", problems: yamlProblems,
                            invalid: !yamlProblems.isEmpty))
    }
}

/// What the deploy forms sent, and the manifest it makes.
struct DeployInput: Sendable {
    enum Mode: String, Sendable {
        case form, yaml
    }

    static let formFileName = "deploy-form.yaml"
    static let yamlFileName = "pasted.yaml"
    static let defaults = ["replicas": "1", "vcpus": "1", "memory": "128Mi"]

    var mode: Mode
    var values: [String: String]

    init(mode: Mode = .form, values: [String: String] = [:]) {
        self.mode = mode
        self.values = values
    }

    init(form: [String: String]) {
        self.init(mode: form["mode"] == "yaml" ? .yaml : .form, values: form)
    }

    /// The form field a diagnostic's path concerns.
    static func field(forPath path: String) -> String? {
        switch path {
        case "metadata.name": "name"
        case "spec.template": "template"
        case "spec.replicas": "replicas"
        case "spec.resources.vcpus": "vcpus"
        case "spec.resources.memory": "memory"
        default: nil
        }
    }

    /// The manifest to apply: the pasted text, or a VMSet document from the form. Every form
    /// value is written as a JSON string (valid YAML, and nothing in it can add a key), except
    /// whole numbers, so that the loader judges the rest and says where.
    func source(baseDirectory: String) -> ManifestSource {
        switch mode {
        case .yaml:
            return ManifestSource(name: Self.yamlFileName, text: values["yaml"] ?? "", baseDirectory: baseDirectory)
        case .form:
            func value(_ name: String) -> String { (values[name] ?? Self.defaults[name] ?? "").trimmingCharacters(in: .whitespaces) }
            func quoted(_ text: String) -> String {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .withoutEscapingSlashes
                return String(decoding: (try? encoder.encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
            }
            func number(_ text: String) -> String {
                !text.isEmpty && text.count <= 9 && text.allSatisfy(\.isASCII) && text.allSatisfy(\.isNumber) ? text : quoted(text)
            }
            let text = """
                apiVersion: drove/v1
                kind: VMSet
                metadata:
                  name: \(quoted(value("name")))
                spec:
                  template: \(quoted(value("template")))
                  replicas: \(number(value("replicas")))
                  resources:
                    vcpus: \(number(value("vcpus")))
                    memory: \(quoted(value("memory")))

                """
            return ManifestSource(name: Self.formFileName, text: text, baseDirectory: baseDirectory)
        }
    }
}
