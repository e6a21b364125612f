// Sends the form to POST /v1/run and shows the JSON answer as it came.
const form = document.getElementById("run-form");
const answer = document.getElementById("answer");
const scopeError = document.getElementById("scope-error");

function readScope() {
  const text = document.getElementById("scope").value.trim() || "{}";
  const scope = JSON.parse(text);
  if (scope === null || typeof scope !== "object" || Array.isArray(scope)) {
    throw new Error("the scope must be a JSON object");
  }
  return scope;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  let scope;
  try {
    scope = readScope();
    scopeError.textContent = "";
  } catch (e) {
    scopeError.textContent = `Scope: ${e.message}`;
    return;
  }
  const body = {
    code: document.getElementById("code").value,
    mode: new FormData(form).get("mode"),
    scope,
  };
  answer.textContent = "running…";
  try {
    const res = await fetch("/v1/run", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    answer.textContent = `HTTP ${res.status}\n` + JSON.stringify(await res.json(), null, 2);
  } catch (e) {
    answer.textContent = `request failed: ${e.message}`;
  }
});
