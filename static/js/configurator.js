// The configurator without page reloads: forms marked data-live are posted in the
// background and the server sends back the cart, rendered; the page works without this.
(function () {
  const cart = document.getElementById("cart");
  if (!cart) return;

  async function submitLive(form) {
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      const html = await response.text();
      if ((response.headers.get("Content-Type") || "").startsWith("text/html") && html.includes('data-testid="cart"')) {
        cart.innerHTML = html;
        bind(cart);
      } else {
        form.submit(); // an error page: let the browser show it
      }
    } finally {
      form.removeAttribute("aria-busy");
    }
  }

  function bind(root) {
    root.querySelectorAll("form[data-live]").forEach((form) => {
      if (form.dataset.bound) return;
      form.dataset.bound = "1";
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        submitLive(form);
      });
    });
    root.querySelectorAll("form[data-autosubmit-inputs]").forEach((form) => {
      form.querySelectorAll(".js-hide").forEach((el) => el.classList.add("d-none"));
      form.querySelectorAll("input, select").forEach((input) => {
        input.addEventListener("change", () => submitLive(form));
      });
    });
  }

  document.querySelectorAll("[data-tick-all]").forEach((box) => {
    box.addEventListener("change", () => {
      document.querySelectorAll(`input[name="${box.dataset.tickAll}"]`).forEach((el) => {
        el.checked = box.checked;
      });
    });
  });
  bind(document);
})();
