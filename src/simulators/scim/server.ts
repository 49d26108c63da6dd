/**
 * A SCIM 2.0 service provider (RFC 7643, RFC 7644) for tests and the demo, built on scimmy (resources,
 * schemas, PatchOp, ListResponse with pagination, error messages) and scimmy-routers on express 4
 * (scimmy-routers ignores paging under express 5: it casts `req.query.startIndex`, a getter there).
 * Users and Groups live in memory ({@link ScimStore}); it listens on 127.0.0.1 (port 0 by default: a free
 * one) under `/scim/v2`, and takes a bearer token given at start.
 *
 * In front of scimmy, in this order, for every request under the base path:
 *  1. the request log ({@link ScimSimulator.requests}: method, path below the base, filter, status);
 *  2. fault injection ({@link ScimFaultPlan}: 429 with Retry-After, 503, 412 with a concurrent change,
 *     delays, drops, a hook run first, a rewritten answer); a request no rule took then meets, when on (sloppy mode's default), the 429
 *     bursts of {@link ScimBurstThrottle};
 *  3. bearer-token authentication (401 with a SCIM error body and `WWW-Authenticate: Bearer`);
 *  4. writes (anything but GET) run one at a time: scimmy's PATCH reads, patches and writes back the
 *     resource in several steps, and two concurrent PATCHes of one Group would lose a member;
 *  5. `filter` is parsed here (filter.ts) rather than by scimmy, whose parser rejects escaped quotes and
 *     compares case-sensitively; a bad filter is answered 400 invalidFilter (RFC 7644 §3.4.2.2).
 *
 * What scimmy 1.3.5 does and does not do, and what this file adds:
 *  - PATCH (RFC 7644 §3.5.2) add/replace/remove, including `remove` with the path
 *    `members[value eq "<id>"]`, works; a repeated `add` of a member pushes a duplicate entry (the store
 *    drops it in strict mode, keeps it in sloppy mode); a PATCH that changes nothing is answered 204.
 *  - Uniqueness (userName, 409 "uniqueness") is not scimmy's: the store enforces it.
 *  - Filters on POST /.search are parsed by scimmy first (same limits as above), then matched here.
 *  - No ETags / If-Match (`meta.version` changes on every write but is never checked), so a 412
 *    Precondition Failed comes only from fault injection (`faults.preconditionFailed`, faults.ts); no
 *    sorting guarantees beyond scimmy's.
 *  - Pagination (RFC 7644 §3.4.2.4, `startIndex` and `count`; scimmy's default count is 20) is scimmy's,
 *    except that a startIndex past the last result gets an empty page (scimmy 1.3.5 answers the first
 *    page again), and `maxPageSize` caps `count` (a server that returns fewer results than asked for, as
 *    the RFC allows).
 *
 * Modes (store.ts): "strict" behaves as the RFCs say; "sloppy" reproduces what real servers get wrong:
 * case-sensitive filters, duplicate members on a repeated add, no Group displayName uniqueness, and 429
 * bursts (option `throttle`, on by default in sloppy mode: {@link DEFAULT_THROTTLE}, 5 requests served
 * then 2 answered 429 with Retry-After 0). A client that honours Retry-After and re-reads before writing
 * reaches the same end state against both.
 * scimmy's resource handlers are process-wide (SCIMMY.Resources is a singleton): they are declared once
 * and find the simulator that received the request through the router's `context`, so several
 * simulators can run in one process.
 */
import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import type { Logger } from "../../logger.js";
import { DEFAULT_THROTTLE, ScimBurstThrottle, ScimFaultPlan, type ScimThrottleOptions } from "./faults.js";
import { parseFilter, ScimFilterError, type FilterNode } from "./filter.js";
import { ScimStore, scimError, type ScimMode, type StoredResource } from "./store.js";

export { DEFAULT_THROTTLE, ScimBurstThrottle, ScimFaultPlan, type ScimFaultAction, type ScimFaultRule, type ScimThrottleOptions } from "./faults.js";
export { ScimStore, type ScimMode, type StoredResource } from "./store.js";

/** How a {@link ScimSimulator} is started. */
export interface ScimSimulatorOptions {
  /** the bearer token clients must send (`Authorization: Bearer <token>`) */
  token: string;
  /** default 127.0.0.1 */
  host?: string;
  /** 0 (default) picks a free port */
  port?: number;
  /** mount path of the SCIM endpoints, default "/scim/v2" */
  basePath?: string;
  /** "strict" (default, RFC behaviour) or "sloppy" (case-sensitive filters, duplicate members, 429 bursts): store.ts */
  mode?: ScimMode;
  /**
   * 429 bursts ({@link ScimBurstThrottle}): `true` for {@link DEFAULT_THROTTLE}, an object for other
   * numbers (missing ones from the default), `false` for none. Default: on in sloppy mode, off in strict.
   */
  throttle?: boolean | Partial<ScimThrottleOptions>;
  /** at most this many resources per list answer, whatever the request's `count` (default: no cap) */
  maxPageSize?: number;
  log?: Logger;
}

/** One request as the simulator saw it. */
export interface ScimRequestLogEntry {
  method: string;
  /** path below the base path, e.g. "/Users" or "/Groups/<id>" */
  path: string;
  /** the decoded `filter` query parameter, when given */
  filter?: string;
  /** HTTP status answered; 0 when the connection was dropped without an answer */
  status: number;
}

const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

/** What scimmy's handlers receive as `ctx` (the router's `context`). */
interface HandlerContext {
  store: ScimStore;
  filter?: FilterNode;
  /** the simulator's cap on `count` */
  maxPageSize?: number;
}

/** scimmy's paging of a list (Types.Resource#constraints), read after the handler returns. */
interface ListConstraints {
  startIndex?: number;
  count?: number;
  totalResults?: number;
  [other: string]: unknown;
}

interface ResourceArg {
  id?: string;
  filter?: { expression: string };
  constraints?: ListConstraints;
}

/** scimmy's page size when the request gives no count */
const SCIMMY_DEFAULT_COUNT = 20;

/**
 * The list a handler hands scimmy, with the paging fixed up (module doc): `count` capped by maxPageSize;
 * past the last result, no resources (and totalResults kept), where scimmy would answer the first page.
 * scimmy reads `resource.constraints` after the handler returns, so setting it here takes effect.
 */
function paged(resource: ResourceArg, ctx: HandlerContext, all: StoredResource[]): StoredResource[] {
  const c: ListConstraints = { ...resource.constraints };
  if (ctx.maxPageSize !== undefined) c.count = Math.min(c.count ?? SCIMMY_DEFAULT_COUNT, ctx.maxPageSize);
  resource.constraints = c;
  if ((c.startIndex ?? 1) <= all.length) return all;
  c.totalResults = all.length;
  return [];
}

/** Filters parsed by the middleware, handed to the egress handler through the router's context. */
const parsedFilters = new WeakMap<Request, FilterNode>();

let declared = false;
/** Declare scimmy's User and Group resources once per process, with handlers that use `ctx.store`. */
function declareResources(): void {
  if (declared) return;
  declared = true;
  const listFilter = (resource: ResourceArg, ctx: HandlerContext): FilterNode | undefined =>
    ctx.filter ?? (resource.filter ? parseFilter(resource.filter.expression) : undefined);
  const plain = (instance: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
  const notFound = (id: string) => scimError(404, undefined, `Resource ${id} not found`);
  SCIMMY.Resources.declare(SCIMMY.Resources.User, {
    egress: (resource: ResourceArg, ctx: HandlerContext): StoredResource | StoredResource[] => {
      if (resource.id) return ctx.store.userView(resource.id) ?? throwError(notFound(resource.id));
      return paged(resource, ctx, ctx.store.listUsers(listFilter(resource, ctx)));
    },
    ingress: (resource: ResourceArg, instance: unknown, ctx: HandlerContext): StoredResource =>
      resource.id ? ctx.store.replaceUser(resource.id, plain(instance)) : ctx.store.createUser(plain(instance)),
    degress: (resource: ResourceArg, ctx: HandlerContext): void => ctx.store.deleteUser(resource.id!),
  });
  SCIMMY.Resources.declare(SCIMMY.Resources.Group, {
    egress: (resource: ResourceArg, ctx: HandlerContext): StoredResource | StoredResource[] => {
      if (resource.id) return ctx.store.groupView(resource.id) ?? throwError(notFound(resource.id));
      return paged(resource, ctx, ctx.store.listGroups(listFilter(resource, ctx)));
    },
    ingress: (resource: ResourceArg, instance: unknown, ctx: HandlerContext): StoredResource =>
      resource.id ? ctx.store.replaceGroup(resource.id, plain(instance)) : ctx.store.createGroup(plain(instance)),
    degress: (resource: ResourceArg, ctx: HandlerContext): void => ctx.store.deleteGroup(resource.id!),
  });
}

function throwError(err: Error): never {
  throw err;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The SCIM simulator. `start()` listens and resolves with the port; `baseUrl` is what a client is
 * configured with (`http://127.0.0.1:<port>/scim/v2`); `store` holds the data (tests seed Groups and
 * inspect members there); `faults` injects failures; `throttle` answers 429 bursts (sloppy mode);
 * `requests` is the request log.
 */
export class ScimSimulator {
  readonly store: ScimStore;
  readonly faults = new ScimFaultPlan();
  /** the 429 bursts, when on (option `throttle`); tests may replace, reset or remove it */
  throttle: ScimBurstThrottle | undefined;
  /** the cap on `count` of list answers (option `maxPageSize`); tests may change it */
  maxPageSize: number | undefined;
  /** every request received under the base path, in arrival order of their answers */
  readonly requests: ScimRequestLogEntry[] = [];
  readonly basePath: string;
  private server: http.Server | undefined;
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ScimSimulatorOptions) {
    this.store = new ScimStore(opts.mode ?? "strict");
    this.basePath = (opts.basePath ?? "/scim/v2").replace(/\/+$/, "");
    const throttle = opts.throttle ?? opts.mode === "sloppy";
    this.throttle = throttle === false ? undefined : new ScimBurstThrottle(throttle === true ? DEFAULT_THROTTLE : throttle);
    if (opts.maxPageSize !== undefined && !(Number.isInteger(opts.maxPageSize) && opts.maxPageSize >= 1)) {
      throw new RangeError(`maxPageSize must be an integer of at least 1, got ${opts.maxPageSize}`);
    }
    this.maxPageSize = opts.maxPageSize;
  }

  /** Listen; resolves with the bound port. */
  async start(): Promise<number> {
    declareResources();
    const server = http.createServer(this.app());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1", () => resolve());
    });
    this.server = server;
    return this.port;
  }

  /** The bound port (after start()). */
  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  /** The SCIM base URL clients use, e.g. http://127.0.0.1:41234/scim/v2 */
  get baseUrl(): string {
    return `http://${this.opts.host ?? "127.0.0.1"}:${this.port}${this.basePath}`;
  }

  /** Close every connection (keep-alive ones too) and stop listening. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Empty the request log. */
  clearLog(): void {
    this.requests.length = 0;
  }

  private app(): express.Express {
    const app = express();
    app.disable("x-powered-by");
    const base = this.basePath || "/";
    app.use(base, (req, res, next) => this.logRequest(req, res, next));
    app.use(base, (req, res, next) => void this.injectFault(req, res, next));
    app.use(base, (req, res, next) => this.authenticate(req, res, next));
    app.use(base, (req, res, next) => void this.serializeWrites(req, res, next));
    app.use(base, (req, res, next) => this.preparseFilter(req, res, next));
    app.use(
      base,
      new SCIMMYRouters({
        type: "bearer",
        docUri: "https://datatracker.ietf.org/doc/html/rfc6750",
        handler: () => "simulator-admin",
        context: (req): HandlerContext => ({ store: this.store, filter: parsedFilters.get(req), maxPageSize: this.maxPageSize }),
      }),
    );
    return app;
  }

  private logRequest(req: Request, res: Response, next: NextFunction): void {
    const entry: ScimRequestLogEntry = { method: req.method, path: req.path, status: 0 };
    if (typeof req.query.filter === "string") entry.filter = req.query.filter;
    let done = false;
    const record = () => {
      if (done) return;
      done = true;
      entry.status = res.headersSent ? res.statusCode : 0;
      this.requests.push(entry);
      this.opts.log?.debug({ ...entry }, "scim simulator request");
    };
    res.once("finish", record);
    res.once("close", record);
    next();
  }

  private async injectFault(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      if (this.faults.latencyMs) await sleep(this.faults.latencyMs);
      const action = this.faults.take(req.method, req.path);
      if (!action) {
        if (this.throttle?.take()) {
          res.setHeader("Retry-After", String(this.throttle.options.retryAfter));
          sendError(res, 429, undefined, "too many requests (simulated rate limit burst)");
          return;
        }
        return next();
      }
      switch (action.kind) {
        case "respond":
          if (action.run) await action.run();
          if (action.retryAfter !== undefined) res.setHeader("Retry-After", String(action.retryAfter));
          sendError(res, action.status, action.scimType, action.detail ?? `injected fault: HTTP ${action.status}`);
          return;
        case "delay":
          await sleep(action.ms);
          return next();
        case "before":
          await action.run();
          return next();
        case "drop":
          if (!action.afterExecute) {
            req.socket.destroy();
            return;
          }
          // execute, then drop the connection instead of answering
          res.end = (() => {
            req.socket.destroy();
            return res;
          }) as Response["end"];
          return next();
        case "rewrite": {
          // res.send(object) serialises through res.json, which calls res.send(string) again
          const send = res.send.bind(res);
          const edit = action.edit;
          res.send = ((body: unknown) => {
            if (body !== null && typeof body === "object" && !Buffer.isBuffer(body)) {
              const plain = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
              return send(JSON.stringify(edit(plain, req.query)));
            }
            return send(body);
          }) as Response["send"];
          return next();
        }
      }
    } catch (err) {
      next(err);
    }
  }

  private authenticate(req: Request, res: Response, next: NextFunction): void {
    const header = req.header("authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const given = Buffer.from(m?.[1] ?? "");
    const expected = Buffer.from(this.opts.token);
    if (m && given.length === expected.length && timingSafeEqual(given, expected)) return next();
    res.setHeader("WWW-Authenticate", 'Bearer realm="scim"');
    sendError(res, 401, undefined, m ? "invalid bearer token" : "missing bearer token");
  }

  private async serializeWrites(req: Request, res: Response, next: NextFunction): Promise<void> {
    if (req.method === "GET" || req.method === "HEAD") return next();
    const previous = this.writes;
    let release!: () => void;
    this.writes = new Promise<void>((r) => (release = r));
    res.once("finish", release);
    res.once("close", release);
    await previous;
    next();
  }

  private preparseFilter(req: Request, res: Response, next: NextFunction): void {
    const filter = req.query.filter;
    if (filter === undefined) return next();
    if (typeof filter !== "string" || !filter.trim()) return sendError(res, 400, "invalidFilter", "filter must be a non-empty string");
    try {
      parsedFilters.set(req, parseFilter(filter));
    } catch (err) {
      if (err instanceof ScimFilterError) return sendError(res, 400, "invalidFilter", err.message);
      throw err;
    }
    delete (req.query as Record<string, unknown>).filter;
    next();
  }
}

/** The same simulator under the RFC's name for a SCIM server. */
export { ScimSimulator as ScimServiceProvider };

/** Answer with a SCIM error message (RFC 7644 §3.12): status as a string, optional scimType, detail. */
function sendError(res: Response, status: number, scimType: string | undefined, detail: string): void {
  res
    .status(status)
    .type("application/scim+json")
    .send(JSON.stringify({ schemas: [ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}), detail }));
}
