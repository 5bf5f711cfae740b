import DroveAPI
import DroveClient

extension APIClient {
    /// The VM `name` as the API lists it; the API's 404 when it knows no such VM.
    func vm(named name: String) async throws(ClientError) -> VMSummary {
        guard let vm = try await vms(of: nil).first(where: { $0.name == name }) else {
            throw .api(status: 404, message: "vm \(name) not found", diagnostics: [])
        }
        return vm
    }
}
