/// The portal's one script. Pages work without it; with it they follow the watch stream
/// (re-reading the page and swapping its `data-live` sections when the store changes) and the
/// templates page uploads images with a progress bar.
enum PortalScript {
    static let source = #"""
        "use strict";
        (function () {
          const csrf = () => (document.querySelector('meta[name="drove-csrf"]') || {}).content || "";
          const stateLine = document.getElementById("live-state");
          function say(text) {
            if (!stateLine) return;
            stateLine.hidden = !text;
            stateLine.textContent = text;
          }

          // Live sections: re-read this page and swap every data-live section that changed.
          let inFlight = false, again = false, timer = null;
          async function refresh() {
            if (inFlight) { again = true; return; }
            inFlight = true;
            try {
              const answer = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
              if (answer.redirected || !answer.ok) { say("Signed out or unavailable: reload the page"); return; }
              const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
              for (const old of document.querySelectorAll("[data-live][id]")) {
                const next = fresh.getElementById(old.id);
                if (next && next.innerHTML !== old.innerHTML) old.replaceWith(document.importNode(next, true));
              }
              document.dispatchEvent(new CustomEvent("drove:refreshed"));
            } catch (error) {
              say("Reconnecting…");
            } finally {
              inFlight = false;
              if (again) { again = false; schedule(); }
            }
          }
          function schedule() {
            clearTimeout(timer);
            timer = setTimeout(refresh, 250);
          }
          if (document.querySelector("main[data-watch]") && window.EventSource) {
            const stream = new EventSource("/api/v1/watch");
            stream.onopen = () => say("");
            stream.onerror = () => say("Reconnecting…");
            for (const kind of ["object", "status", "event"]) stream.addEventListener(kind, schedule);
          }

          // Uploads: PUT the file to the template store, showing how much has gone.
          const form = document.getElementById("upload");
          if (form) {
            form.hidden = false;
            const fallback = document.getElementById("upload-needs-js");
            if (fallback) fallback.hidden = true;
            const bar = document.getElementById("upload-progress");
            const status = document.getElementById("upload-status");
            form.addEventListener("submit", (submitted) => {
              submitted.preventDefault();
              const name = form.elements.name.value.trim();
              const file = form.elements.file.files[0];
              if (!name || !file) { status.textContent = "Choose a name and a file first."; return; }
              const request = new XMLHttpRequest();
              const query = "format=qcow2&visibility=" + encodeURIComponent(form.elements.visibility.value);
              request.open("PUT", "/api/v1/templates/" + encodeURIComponent(name) + "/image?" + query);
              request.withCredentials = true;
              request.setRequestHeader("Content-Type", "application/octet-stream");
              request.setRequestHeader("X-Drove-CSRF", csrf());
              request.upload.onprogress = (progress) => {
                if (!progress.lengthComputable) return;
                const percent = Math.floor(100 * progress.loaded / progress.total);
                bar.value = percent;
                bar.textContent = percent + "%";
                status.textContent = "Uploading " + name + ": " + percent + "%";
              };
              request.onload = () => {
                let message = "";
                try { message = JSON.parse(request.responseText).error || ""; } catch (ignored) {}
                status.textContent = request.status < 300 ? "Uploaded " + name + "." : "Refused (" + request.status + "): " + message;
                schedule();
              };
              request.onerror = () => { status.textContent = "The upload failed: the server could not be reached."; };
              status.textContent = "Uploading " + name + "…";
              request.send(file);
            });
          }
        })();
        """#
}
