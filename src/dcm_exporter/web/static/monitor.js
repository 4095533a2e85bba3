// The monitoring page's own script: cancel / reschedule buttons call the REST API with the bearer token
// typed into the header (kept for this browser tab only), and the content refreshes itself.
(function () {
  "use strict";
  const KEY = "dcmExporterToken";
  const token = document.getElementById("token");
  const message = document.getElementById("message");
  token.value = sessionStorage.getItem(KEY) || "";
  token.addEventListener("input", function () { sessionStorage.setItem(KEY, token.value.trim()); });

  function say(text, failed) {
    message.textContent = text;
    message.className = failed ? "failed" : "ok";
  }

  async function refresh() {
    const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!response.ok) { return; }
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("content");
    if (fresh) {
      document.getElementById("content").replaceWith(fresh);
      document.getElementById("refreshed").textContent = new Date().toLocaleTimeString();
    }
  }

  async function act(button) {
    const headers = {};
    const value = token.value.trim();
    if (value) { headers.Authorization = "Bearer " + value; }
    button.disabled = true;
    try {
      const response = await fetch(button.dataset.url, { method: button.dataset.method || "POST", headers: headers });
      if (response.ok) {
        say(button.textContent.trim() + ": done", false);
      } else {
        let reason = response.statusText;
        try { reason = (await response.json()).errorMessage || reason; } catch (e) { /* not JSON */ }
        say(button.textContent.trim() + " refused (" + response.status + "): " + reason, true);
      }
    } catch (e) {
      say(button.textContent.trim() + " failed: " + e, true);
    }
    await refresh();
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-url]");
    if (button) { event.preventDefault(); act(button); }
  });

  const seconds = Number(document.body.dataset.refresh || 0);
  if (seconds > 0) {
    setInterval(function () {
      const typing = document.activeElement && document.activeElement.closest("form");
      if (!document.hidden && !typing) { refresh().catch(function () { /* the next tick tries again */ }); }
    }, seconds * 1000);
  }
}());
