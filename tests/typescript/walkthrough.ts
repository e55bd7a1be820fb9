// The README's three walk-throughs, written against the client that
// openapi-typescript generates from openapi.yaml and called through
// openapi-fetch. It is only type-checked (`npm run check`), never run: it
// proves that a strict-mode client needs no casts, no `!` and no `as`.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema";

type Schemas = components["schemas"];

const baseUrl = "http://127.0.0.1:8080";

/** Fails loudly on an error answer; otherwise its body. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data === undefined) {
    throw new Error(`${result.response.status}: ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

/** The problem body of an error answer: every error is one. */
function describe(problem: Schemas["Problem"]): string {
  const fields = (problem.errors ?? []).map((e) => `${e.field} (${e.code}): ${e.message}`);
  return `${problem.status} ${problem.title} [${problem.type}] ${problem.request_id} ${fields.join("; ")}`;
}

export async function usersAndKeys(): Promise<string> {
  const anonymous = createClient<paths>({ baseUrl });

  // Sign up: a new organization and its first admin, already logged in.
  const signup = ok(
    await anonymous.POST("/api/v1/auth/signup", {
      body: {
        organization_name: "Acme Sales",
        name: "Ada Lovelace",
        email: "ada@example.com",
        password: "correct horse battery",
        base_currency: "EUR",
        timezone: "Europe/Berlin",
      },
    }),
  );
  const admin: Schemas["UserView"] = signup.user;
  const role: "admin" | "manager" | "rep" = admin.role;

  // Log in: an access token (15 minutes) and a single-use refresh token.
  const login = await anonymous.POST("/api/v1/auth/login", {
    body: { email: "ada@example.com", password: "correct horse battery" },
  });
  if (login.error) {
    throw new Error(describe(login.error));
  }
  const tokens: Schemas["TokenPair"] = login.data;
  const requestId: string = login.response.headers.get("X-Request-Id") ?? "";
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${tokens.access_token}` } });

  // Who am I?
  const me = ok(await api.GET("/api/v1/me"));

  // Add a sales rep.
  const rep = ok(
    await api.POST("/api/v1/users", {
      body: { email: "rep@example.com", name: "Rita Rep", role: "rep", password: "another long passphrase" },
    }),
  );
  const active: boolean = rep.active;

  // Create an API key for an integration; `key` is in this response only.
  const created = ok(await api.POST("/api/v1/api-keys", { body: { name: "CRM sync", scopes: ["read", "write"] } }));
  const key: string = created.key;

  // Use it.
  const integration = createClient<paths>({ baseUrl, headers: { "X-API-Key": key } });
  const users = ok(await integration.GET("/api/v1/users", { params: { query: { limit: 50 } } }));
  const names: string[] = users.data.map((u) => u.name);
  const more: string | null = users.next_cursor;

  // Refresh the session (the old refresh token is spent), log out everywhere.
  const fresh = ok(await anonymous.POST("/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }));
  const seconds: number = fresh.expires_in;
  const bye = await api.POST("/api/v1/auth/logout-all");
  if (bye.error) {
    throw new Error(describe(bye.error));
  }

  return [role, requestId, me.email, active, created.prefix, names.join(), more, seconds].join(" ");
}

export async function pipelineAndDeal(token: string): Promise<string> {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

  const pipeline = ok(
    await api.POST("/api/v1/pipelines", {
      body: {
        name: "Renewals",
        stages: [
          { name: "Due", probability: 50 },
          { name: "Quoted", probability: 70, rotting_days: 14 },
          { name: "Signed-off", probability: 90 },
        ],
      },
    }),
  );
  const quoted = pipeline.stages[1];
  if (quoted === undefined) {
    throw new Error("the pipeline has its three stages");
  }
  const rotting: number | null = quoted.rotting_days;

  // A company, a decision maker there, and a deal in the pipeline's first stage.
  const account = ok(await api.POST("/api/v1/accounts", { body: { name: "Globex", domain: "globex.example" } }));
  const domain: string | null = account.domain;
  const contact = ok(
    await api.POST("/api/v1/contacts", {
      body: {
        first_name: "Hank",
        last_name: "Scorpio",
        email: "hank@globex.example",
        account_id: account.id,
        buying_role: "decision_maker",
      },
    }),
  );
  const deal = ok(
    await api.POST("/api/v1/deals", {
      body: {
        title: "Globex renewal",
        amount: "24000.00",
        currency: "EUR",
        pipeline_id: pipeline.id,
        account_id: account.id,
        contacts: [{ contact_id: contact.id, buying_role: "decision_maker" }],
      },
    }),
  );
  const accountId: string | null = deal.account_id;

  // Move it (the response's ETag can guard the next change with If-Match), then win it.
  const moved = await api.POST("/api/v1/deals/{id}/move", {
    params: { path: { id: deal.id } },
    body: { stage_id: quoted.id },
  });
  const etag: string = moved.response.headers.get("ETag") ?? `"${deal.version + 1}"`;
  const won = ok(
    await api.POST("/api/v1/deals/{id}/win", {
      params: { path: { id: deal.id }, header: { "If-Match": etag } },
      body: {},
    }),
  );
  const status: "open" | "won" | "lost" = won.status;
  const closedAt: string | null = won.closed_at;

  // Its history: created → moved → won, each with when, who and which stage.
  const events = ok(await api.GET("/api/v1/deals/{id}/events", { params: { path: { id: deal.id } } }));
  const kinds: ("created" | "moved" | "won" | "lost" | "reopened")[] = events.data.map((e) => e.kind);
  const from: (string | null)[] = events.data.map((e) => e.from_stage_id);

  // Lists filter and sort; unknown filters are 400.
  const list = await api.GET("/api/v1/deals", { params: { query: { status: "won", sort: "-amount", limit: 20 } } });
  if (list.error) {
    throw new Error(describe(list.error));
  }
  const titles: string[] = list.data.data.map((d) => `${d.title} ${d.amount} ${d.currency} ${d.weighted_amount}`);
  const next: string | null = list.data.next_cursor;

  return [rotting, domain, accountId, status, closedAt, kinds.join(), from.join(), titles.join(), next].join(" ");
}

export async function leadToDeal(token: string): Promise<string> {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
  const me = ok(await api.GET("/api/v1/me"));

  // What makes a lead worth calling (admins only; everyone may read the rules).
  const rules: Schemas["RuleView"][] = [
    ok(
      await api.POST("/api/v1/scoring-rules", {
        body: { name: "Business email", field: "email_domain_kind", operator: "equals", value: "business", points: 30 },
      }),
    ),
    ok(
      await api.POST("/api/v1/scoring-rules", {
        body: { name: "50+ employees", field: "employee_count", operator: "gte", value: 50, points: 25 },
      }),
    ),
    ok(
      await api.POST("/api/v1/scoring-rules", {
        body: { name: "Followed up", field: "activities_done", operator: "gte", value: 1, points: 10 },
      }),
    ),
  ];
  const operands: string[] = rules.map((rule) => {
    const value = rule.value;
    if (value === null) return "exists";
    if (Array.isArray(value)) return value.join("|");
    return String(value);
  });

  // A capture form for the website (admins only). Its public_token goes into the page's HTML;
  // several owner_ids share the new leads round-robin.
  const form = ok(
    await api.POST("/api/v1/forms", {
      body: {
        name: "Contact us",
        fields: ["first_name", "last_name", "email", "company_name", "employee_count"],
        required_fields: ["email"],
        source: "web_form",
        owner_ids: [me.id],
        redirect_url: "https://acme.example/thanks",
      },
    }),
  );
  const redirect: string | null = form.redirect_url;

  // What a visitor's browser sends: no credentials. (The README posts it urlencoded; JSON is accepted too.)
  const website = createClient<paths>({ baseUrl });
  const submitted = await website.POST("/public/v1/forms/{public_token}/submissions", {
    params: { path: { public_token: form.public_token } },
    body: {
      first_name: "Grace",
      last_name: "Hopper",
      email: "grace@navy.example",
      company_name: "US Navy",
      employee_count: 5000,
    },
  });
  if (submitted.error) {
    throw new Error(describe(submitted.error));
  }

  // The lead, scored 30 + 25 = 55: past the threshold, so mql_at is set and the owner told.
  const leads = ok(await api.GET("/api/v1/leads", { params: { query: { source: "web_form", sort: "-score" } } }));
  const lead = leads.data[0];
  if (lead === undefined) {
    throw new Error("the submission made a lead");
  }
  const mqlAt: string | null = lead.mql_at;
  const score = ok(await api.GET("/api/v1/leads/{id}/score", { params: { path: { id: lead.id } } }));
  const matched: string[] = score.matched.map((m) => `${m.name} +${m.points}`);
  const notifications = ok(await api.GET("/api/v1/notifications"));
  const unread: string[] = notifications.data
    .filter((n) => n.read_at === null)
    .map((n) => `${n.kind} ${n.created_at}`);

  // Follow up: a call planned, then done; a note; then qualify.
  const call = ok(
    await api.POST("/api/v1/activities", {
      body: { type: "call", subject: "Discovery call", lead_id: lead.id, due_at: "2030-01-15T09:30:00Z" },
    }),
  );
  const done = ok(await api.POST("/api/v1/activities/{id}/complete", { params: { path: { id: call.id } }, body: {} }));
  const doneAt: string | null = done.done_at;
  const note = ok(
    await api.POST("/api/v1/notes", { body: { body: "Budget approved for Q1; she signs.", lead_id: lead.id } }),
  );
  const noteLead: string | null = note.lead_id;
  const qualified = ok(
    await api.PATCH("/api/v1/leads/{id}", { params: { path: { id: lead.id } }, body: { status: "qualified" } }),
  );
  const qualifiedAt: string | null = qualified.qualified_at;

  // Convert, in one transaction: a contact, an account, and a deal in the default pipeline.
  const conversion = ok(
    await api.POST("/api/v1/leads/{id}/convert", {
      params: { path: { id: lead.id } },
      body: { buying_role: "decision_maker", deal: { title: "Navy compilers", amount: "48000.00" } },
    }),
  );
  const contact: Schemas["ContactView"] = conversion.contact;
  const dealTitle: string = conversion.deal?.title ?? "no deal";
  const accountName: string = conversion.account?.name ?? "no account";

  // The lead's call and note stay visible from the contact (and the deal), newest first.
  const timeline = ok(
    await api.GET("/api/v1/contacts/{id}/timeline", { params: { path: { id: contact.id } } }),
  );
  const lines: string[] = timeline.data.map((entry) => {
    switch (entry.kind) {
      case "event":
        return `${entry.at} deal ${entry.event.kind} in ${entry.event.stage_id}`;
      case "activity":
        return `${entry.at} ${entry.activity.type} ${entry.activity.subject} done ${entry.activity.done_at ?? "not yet"}`;
      case "note":
        return `${entry.at} note ${entry.note.body}`;
    }
  });

  return [
    operands.join(),
    redirect,
    mqlAt,
    matched.join(),
    unread.join(),
    doneAt,
    noteLead,
    qualifiedAt,
    dealTitle,
    accountName,
    lines.join("\n"),
  ].join(" ");
}
