// The status page's sign-up forms, in place. Without this script they post
// as plain forms and the server answers with a page; with it, each posts its
// one field as JSON, the server's error is shown beside the field (called by
// its label) and its answer under the form. The server decides what is valid:
// the browser's own checks are left off, as in the console.

const sentence = (text) => {
  const s = String(text || "").trim();
  if (!s) return "Something went wrong.";
  // A word is capitalized; a name that leads (a host, an address) is not.
  const word = /^[a-z]+(?=[\s,:;]|$)/.test(s);
  const first = word ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  return /[.!?]$/.test(first) ? first : `${first}.`;
};

function clear(form) {
  const error = form.querySelector(".field-error");
  const input = form.querySelector("input");
  error.textContent = "";
  error.hidden = true;
  input.removeAttribute("aria-invalid");
  input.setAttribute("aria-describedby", input.getAttribute("aria-describedby").replace(error.id, "").trim());
  form.querySelector(".said").textContent = "";
}

function refuse(form, message) {
  const error = form.querySelector(".field-error");
  const input = form.querySelector("input");
  error.textContent = message;
  error.hidden = false;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", `${error.id} ${input.getAttribute("aria-describedby")}`);
  input.focus();
}

// "webhook must be ..." -> "Webhook URL must be ...": the field by its label.
function inFormWords(form, error) {
  const input = form.querySelector("input");
  const label = form.querySelector("label").textContent.trim();
  let text = String(error.message || error.code || "");
  if (!error.field || error.field === input.name) {
    text = text.replace(new RegExp(`^${input.name}(?![\\w.])`), label);
  }
  return sentence(text);
}

async function send(form) {
  const input = form.querySelector("input");
  const button = form.querySelector("button");
  clear(form);
  form.setAttribute("aria-busy", "true");
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ [input.name]: input.value.trim() }),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      input.value = "";
      form.querySelector(".said").textContent = answer.message || "Done.";
      return;
    }
    const error = answer.error || { message: `the server answered ${response.status}` };
    let text = inFormWords(form, error);
    const wait = response.headers.get("Retry-After");
    if (response.status === 429 && wait) text += ` Try again in ${wait} seconds.`;
    refuse(form, text);
  } catch (e) {
    refuse(form, "The server could not be reached. Check the connection and try again.");
  } finally {
    form.removeAttribute("aria-busy");
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll("form.subscribe")) {
  form.noValidate = true;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.hasAttribute("aria-busy")) send(form);
  });
}
