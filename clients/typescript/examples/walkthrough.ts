/**
 * The walkthrough of the README, run against a live Tenantry by CI through this SDK:
 * onboard, log in, refresh, invite and accept, products with a cursor and search, a problem
 * as a typed error, and an API key.
 *
 *   TENANTRY_URL=http://127.0.0.1:8080 TENANTRY_MAIL_DIR=./data/mail npm run walkthrough
 *
 * Without SMTP, Tenantry writes its mail to TENANTRY_MAIL_DIR; the invitation's link is read
 * from there, as the invitee would read it from their inbox.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

import { all, createTenantryClient, ok, paginate, TenantryError, type Schemas } from "../src/index.js";

const baseUrl = process.env.TENANTRY_URL ?? "http://127.0.0.1:8080";
const mailDir = process.env.TENANTRY_MAIL_DIR ?? "./data/mail";
const slug = `walk-${Date.now().toString(36)}`;
const password = "walkthrough passphrase 1";

function check(condition: unknown, what: string): asserts condition {
  if (!condition) {
    throw new Error(`walkthrough: ${what}`);
  }
  console.log(`ok - ${what}`);
}

// 1. Sign up an organisation: the tenant, its owner and a first session.
const anonymous = createTenantryClient({ baseUrl });
const onboarded = await ok(
  anonymous.POST("/api/v1/onboard", {
    body: {
      organisation_name: "Walkthrough Inc",
      slug,
      owner_email: `owner@${slug}.test`,
      owner_name: "Olive Owner",
      password,
    },
  }),
);
check(onboarded.tenant.slug === slug && onboarded.owner_created, "onboard created the tenant and its owner");

// 2. Log in, and renew the session with its refresh token (which rotates).
const session = await ok(
  anonymous.POST("/api/v1/auth/login", { body: { email: `owner@${slug}.test`, password } }),
);
const renewed = await ok(
  anonymous.POST("/api/v1/auth/refresh", { body: { refresh_token: session.refresh_token } }),
);
check(renewed.refresh_token !== session.refresh_token, "refresh rotated the refresh token");
let accessToken = renewed.access_token;
const owner = createTenantryClient({ baseUrl, tenant: slug, accessToken: () => accessToken });
const me = await ok(owner.GET("/api/v1/auth/me"));
check(me.email === `owner@${slug}.test`, "the access token names the owner");

// 3. Invite a colleague; they accept with the link from their e-mail and sign up.
const invited = await ok(
  owner.POST("/api/v1/invitations", { body: { email: `bea@${slug}.test`, role: "member" } }),
);
const token = await invitationToken(`bea@${slug}.test`);
const preview = await ok(
  anonymous.GET("/api/v1/invitations/lookup/{token}", { params: { path: { token } } }),
);
check(preview.role === "member" && preview.tenant_name === "Walkthrough Inc", "the link looks up the invitation");
const accepted = await ok(
  anonymous.POST("/api/v1/invitations/accept/{token}", {
    params: { path: { token } },
    body: { display_name: "Bea", password: "bea's own passphrase" },
  }),
);
check(accepted.session !== null && accepted.session !== undefined, "accepting signed Bea up with a session");
const members = await all((cursor) =>
  ok(owner.GET("/api/v1/members", { params: { query: { cursor, limit: 1 } } })),
);
check(members.map((m) => m.email).join() === `owner@${slug}.test,bea@${slug}.test`, "two members, one page each");

// 4. Products: create, page through with a cursor, search.
const colours = ["red", "green", "blue", "amber", "violet"];
for (const [i, colour] of colours.entries()) {
  const body: Schemas["CreateProductBody"] = {
    name: `${colour} widget`,
    sku: `WID-${i}`,
    price_minor: 1000 + i,
    currency: "EUR",
  };
  await ok(owner.POST("/api/v1/products", { body }));
}
let pages = 0;
const names: string[] = [];
for await (const product of paginate(async (cursor) => {
  pages += 1;
  return ok(owner.GET("/api/v1/products", { params: { query: { cursor, limit: 2, order: "name" } } }));
})) {
  names.push(product.name);
}
check(pages === 3 && names.length === 5 && names[0] === "amber widget", "five products over three pages, by name");
const found = await ok(owner.GET("/api/v1/products", { params: { query: { q: "violet" } } }));
check(found.items.length === 1 && found.items[0]?.sku === "WID-4", "search finds the violet widget");

// 5. A problem is a typed error with a stable code.
try {
  await ok(
    owner.POST("/api/v1/products", {
      body: { name: "again", sku: "WID-0", price_minor: 1, currency: "EUR" },
    }),
  );
  check(false, "a duplicate SKU is refused");
} catch (error) {
  check(
    error instanceof TenantryError && error.status === 409 && error.code === "sku_taken" && error.requestId !== "",
    "a duplicate SKU is a 409 sku_taken TenantryError with a request id",
  );
}

// 6. An API key: read-only, used by a service instead of a person.
const created = await ok(
  owner.POST("/api/v1/api-keys", { body: { name: "reporting", permissions: ["products:read"] } }),
);
const service = createTenantryClient({ baseUrl, tenant: slug, apiKey: created.key });
const viaKey = await ok(service.GET("/api/v1/products", { params: { query: { limit: 100 } } }));
check(viaKey.items.length === 5, "the API key reads the products");
try {
  await ok(service.DELETE("/api/v1/products/{id}", { params: { path: { id: viaKey.items[0]!.id } } }));
  check(false, "the read-only key cannot delete");
} catch (error) {
  check(error instanceof TenantryError && error.code === "permission_denied", "the read-only key cannot delete (permission_denied)");
}

// 7. Log out: the session ends.
await ok(owner.POST("/api/v1/auth/logout", { body: { refresh_token: renewed.refresh_token } }));
accessToken = "";
try {
  await ok(owner.GET("/api/v1/auth/me"));
  check(false, "signed out");
} catch (error) {
  check(error instanceof TenantryError && error.status === 401, "without a token the API answers 401");
}
console.log("walkthrough passed");

/** The token of the newest invitation link sent to `to`, waiting for the worker to send it. */
async function invitationToken(to: string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const files = await readdir(mailDir).catch(() => [] as string[]);
    for (const file of files.filter((f) => f.endsWith(".eml"))) {
      // Quoted-printable: join soft line breaks, decode `=3D`.
      const raw = (await readFile(join(mailDir, file), "utf8")).replace(/=\r?\n/g, "").replace(/=3D/g, "=");
      if (raw.includes(`To: ${to}`)) {
        const match = /accept-invitation\?token=([A-Za-z0-9_-]+)/.exec(raw);
        if (match?.[1]) {
          return match[1];
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no invitation mail to ${to} in ${mailDir}`);
}
