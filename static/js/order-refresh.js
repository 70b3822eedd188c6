// An open order's page reloads itself every few seconds, so its parts and timeline follow
// the order backend; it stops once the order has ended (the attribute is then absent).
// It waits while the reader is using a form, and while the tab is hidden.
(() => {
  const holder = document.querySelector("[data-order-refresh]");
  if (!holder) {
    return;
  }
  const seconds = Math.max(Number(holder.dataset.orderRefresh) || 5, 2);
  const busy = () => {
    const active = document.activeElement;
    return document.hidden || (active && active.closest("form") !== null);
  };
  const tick = () => {
    if (busy()) {
      window.setTimeout(tick, seconds * 1000);
    } else {
      window.location.reload();
    }
  };
  window.setTimeout(tick, seconds * 1000);
})();
