/**
 * Receiving Tenantry's webhooks, verified with the published Standard Webhooks library
 * (`standardwebhooks` on npm) — written by others, so this checks Tenantry's signatures as
 * receivers will. CI runs it against a live Tenantry that may deliver to 127.0.0.1 over http:
 *
 *   TENANTRY_WEBHOOK_ALLOW_HTTP=true TENANTRY_WEBHOOK_ALLOW_CIDRS=127.0.0.1/32 tenantry serve
 *   TENANTRY_URL=http://127.0.0.1:8080 node dist/examples/webhooks.js
 *
 * A receiver registers an endpoint, keeps the secret shown once, and verifies every delivery
 * (rejecting what does not verify); it de-duplicates on `webhook-id`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

import { Webhook, WebhookVerificationError } from "standardwebhooks";

import { createTenantryClient, ok } from "../src/index.js";

const baseUrl = process.env.TENANTRY_URL ?? "http://127.0.0.1:8080";
const slug = `hooks-${Date.now().toString(36)}`;

function check(condition: unknown, what: string): asserts condition {
  if (!condition) {
    throw new Error(`webhooks: ${what}`);
  }
  console.log(`ok - ${what}`);
}

// A receiver on loopback that keeps every request as it came: raw body and headers.
type Delivery = { body: string; headers: Record<string, string> };
const deliveries: Delivery[] = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    deliveries.push({ body: Buffer.concat(chunks).toString("utf8"), headers: flat(req.headers) });
    res.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const port = (receiver.address() as AddressInfo).port;

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === "string") {
      out[name] = value;
    }
  }
  return out;
}

async function nth(n: number): Promise<Delivery> {
  for (let i = 0; i < 200; i += 1) {
    const d = deliveries[n];
    if (d) {
      return d;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`webhooks: delivery ${n + 1} never came`);
}

/** GitHub-style: `sha256=` and the hex HMAC-SHA256 of the body, keyed with the whole secret. */
function hubValid(d: Delivery, secret: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(d.body).digest("hex")}`);
  const given = Buffer.from(d.headers["x-hub-signature-256"] ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function verifies(d: Delivery, secret: string): boolean {
  try {
    new Webhook(secret).verify(d.body, d.headers);
    return true;
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      return false;
    }
    throw error;
  }
}

const anonymous = createTenantryClient({ baseUrl });
const onboarded = await ok(
  anonymous.POST("/api/v1/onboard", {
    body: {
      organisation_name: "Hooks Inc",
      slug,
      owner_email: `owner@${slug}.test`,
      owner_name: "Olive Owner",
      password: "webhook passphrase 1",
    },
  }),
);
const accessToken = onboarded.session?.access_token ?? "";
const owner = createTenantryClient({ baseUrl, tenant: slug, accessToken });

// 0. Webhooks are a plan feature: the owner moves to a plan that has them.
const subscription = await ok(
  owner.POST("/api/v1/billing/change-plan", { body: { plan: "professional" } }),
);
check(subscription.plan === "professional", "the owner chose a plan with webhooks");

// 1. Register an endpoint for product events; the secret is shown this once.
const endpoint = await ok(
  owner.POST("/api/v1/webhooks", {
    body: { url: `http://127.0.0.1:${port}/tenantry`, event_types: ["product.*"] },
  }),
);
const secret = endpoint.secret;
check(secret.startsWith("whsec_"), "the endpoint's signing secret is shown once");

// 2. A change: delivered, and verified by the Standard Webhooks library.
const product = await ok(
  owner.POST("/api/v1/products", {
    body: { name: "Kettle", sku: "K-1", price_minor: 1999, currency: "EUR" },
  }),
);
const first = await nth(0);
const payload = new Webhook(secret).verify(first.body, first.headers) as {
  id: string;
  type: string;
  data: { object: { id: string } };
};
check(payload.type === "product.created" && payload.data.object.id === product.id, "standardwebhooks verifies product.created");
check(payload.id === first.headers["webhook-id"], "webhook-id is the event's id (receivers de-duplicate on it)");
check(hubValid(first, secret), "X-Hub-Signature-256 verifies with the same secret");
check(!verifies({ ...first, body: first.body.replace("Kettle", "Kettl3") }, secret), "a tampered body does not verify");
const stranger = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
check(!verifies(first, stranger), "another secret does not verify");

// 3. Rotate: for a day, deliveries carry signatures with both secrets; either verifies.
const rotated = await ok(
  owner.POST("/api/v1/webhooks/{id}/rotate-secret", { params: { path: { id: endpoint.id } } }),
);
check(rotated.secret !== secret, "rotation gives a new secret");
await ok(
  owner.PATCH("/api/v1/products/{id}", {
    params: { path: { id: product.id } },
    body: { name: "Tea kettle" },
  }),
);
const second = await nth(1);
check(verifies(second, rotated.secret), "after rotation the new secret verifies");
check(verifies(second, secret), "and so does the previous one, during the overlap");
check(hubValid(second, rotated.secret), "the GitHub-style signature uses the new secret");

// 4. A test event, to this endpoint only.
const test = await ok(owner.POST("/api/v1/webhooks/{id}/test", { params: { path: { id: endpoint.id } } }));
const third = await nth(2);
const testPayload = new Webhook(rotated.secret).verify(third.body, third.headers) as { id: string; type: string };
check(testPayload.type === "webhook.test" && testPayload.id === test.event_id, "the test event arrives, signed");

// 5. The delivery log shows the three attempts, all succeeded (recorded once answered).
let log = await ok(owner.GET("/api/v1/webhooks/{id}/attempts", { params: { path: { id: endpoint.id } } }));
for (let i = 0; i < 100 && log.items.length < 3; i += 1) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  log = await ok(owner.GET("/api/v1/webhooks/{id}/attempts", { params: { path: { id: endpoint.id } } }));
}
check(log.items.length === 3 && log.items.every((a) => a.succeeded && a.status_code === 204), "the delivery log holds three successful attempts");
receiver.close();
console.log("webhooks passed");
