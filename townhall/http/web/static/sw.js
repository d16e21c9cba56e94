// Townhall's service worker: shows Web Push notifications (townhall/app/webpush.py sends
// them, encrypted; the browser decrypts them before this sees them) and opens the Space
// when one is clicked. Served from /sw.js so its scope is the whole site; static/push.js
// registers it and subscribes on the settings page. A push carries JSON:
// {title, body, url, kind}.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

/** A link on this site only (a push names a page here; anything else opens the home). */
function localUrl(url) {
  try {
    const target = new URL(url || "/", self.location.origin);
    return target.origin === self.location.origin ? target.href : self.location.origin + "/";
  } catch (_) {
    return self.location.origin + "/";
  }
}

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (_) {
    message = { title: event.data ? event.data.text() : "" };
  }
  const url = localUrl(message.url);
  event.waitUntil(self.registration.showNotification(message.title || "Townhall", {
    body: message.body || "",
    data: { url },
    tag: `${message.kind || "news"}:${url}`, // the same news twice shows once
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = localUrl(event.notification.data && event.notification.data.url);
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const tab = open.find((client) => client.url === url && "focus" in client);
    if (tab) return tab.focus();
    return self.clients.openWindow(url);
  })());
});

// The push service replaced the subscription (keys rotated, or it expired): subscribe
// again with the same options and tell the server, so notifications keep coming.
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    const renewed = event.newSubscription
      || await self.registration.pushManager.subscribe(old ? old.options : { userVisibleOnly: true });
    const json = { "Content-Type": "application/json", Accept: "application/json" };
    await fetch("/api/me/push-subscriptions", {
      method: "POST", headers: json, body: JSON.stringify(renewed.toJSON()),
    });
    if (old && old.endpoint !== renewed.endpoint) {
      await fetch("/api/me/push-subscriptions", {
        method: "DELETE", headers: json, body: JSON.stringify({ endpoint: old.endpoint }),
      });
    }
  })());
});
