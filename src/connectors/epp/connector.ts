/**
 * The EPP registry connector: RFC 5731 domain, RFC 5732 host and RFC 5733 contact operations over pooled
 * sessions; capabilities "registry" and "host".
 * Accreditation config (JSON in accreditation.config):
 *   { "host": "epp.example", "port": 700, "clID": "registrar-id",
 *     "password_env": "VAR" | "password_file": "/path",            // the login secret, by reference
 *     "tls": { "ca_file": "/path/ca.pem", "reject_unauthorized": true, "servername": "..." } }
 *
 * What is cached, and for how long (a running worker follows accreditation changes):
 * - per accreditation id, one current session pool (src/connectors/epp/session-pool.ts) for one set of
 *   settings, identified by a fingerprint: hex SHA-256 of the parsed config above (the secret's *name*,
 *   never its value) and max_sessions. It lives as long as the connector. A call whose Accreditation has
 *   another fingerprint (the registry family re-reads the row every few seconds, src/families/registry/context.ts) gets a new
 *   pool; the old one drains: its borrowed sessions finish their command and are logged out, its idle
 *   ones at once, its waiters move to the new pool. Sessions still open in a draining pool count against
 *   the new pool's max_sessions. A call carrying an Accreditation object read before the one that set up
 *   the current pool (`Accreditation.readAt`: a job that read the row before the change, however late it
 *   reaches the connector) is served by the current pool, so the settings never flip back; a later read
 *   of the row that holds the old settings again does switch back. An object without `readAt` (not read
 *   by the tasks) counts as read when this connector first saw it. An invalid new config throws
 *   PV_CONFIG and leaves the current pool in place.
 * - nothing else: the secret (environment variable or file) is resolved and tls.ca_file read each time a
 *   session is opened, so a rotated secret or a rewritten CA file is used by the next session.
 * A session that cannot be opened (connection refused, TLS handshake or certificate verification, login
 * refused with 2200/2201/2501) throws a transient error marked `configSuspect` (src/errors.ts): the task
 * re-reads the accreditation before the next attempt. A refused login or a failed certificate
 * verification also makes the pool log out its idle sessions, and a refused login is remembered: the same
 * settings and secret are not sent to the registry again for a cool-down (session-pool.ts).
 * Secrets never appear in a log line or an error message; the log names the fields that changed.
 */
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { config, resolveSecret, secretRefSchema } from "../../config.js";
import { ConfigurationError } from "../../errors.js";
import { logger, type Logger } from "../../logger.js";
import type {
  Accreditation,
  ContactCreateInput,
  ContactCreateResult,
  ContactInfoResult,
  DomainCreateInput,
  DomainCreateResult,
  DomainInfoResult,
  DomainRenewInput,
  DomainRenewResult,
  HostCreateInput,
  HostCreateResult,
  HostInfoResult,
  HostOperations,
  RegistryOperations,
  RegistryOutcome,
} from "../capabilities/registry.js";
import type { Capability, CommandContext, Connector } from "../types.js";
import { contactCreateBody, contactInfoBody, parseContactCreData, parseContactInfData } from "./contact.js";
import { domainCreateBody, domainDeleteBody, domainInfoBody, domainRenewBody, parseDomainCreData, parseDomainInfData, parseDomainRenData } from "./domain.js";
import { EppTransportError } from "./errors.js";
import { hostCreateBody, hostInfoBody, parseHostCreData, parseHostInfData } from "./host.js";
import { EppSessionPool } from "./session-pool.js";
import type { EppSessionOptions } from "./session.js";
import type { XmlNode } from "./xml.js";
import type { EppResponse } from "./protocol.js";
import { canonicalJson, fingerprint } from "../../util/fingerprint.js";

export const eppAccreditationConfigSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(700),
    clID: z.string().min(3).max(16),
    password_env: z.string().min(1).optional(),
    password_file: z.string().min(1).optional(),
    tls: z
      .object({
        ca_file: z.string().optional(),
        reject_unauthorized: z.boolean().default(true),
        servername: z.string().optional(),
      })
      .default({ reject_unauthorized: true }),
  })
  .superRefine((c, ctx) => {
    const r = secretRefSchema.safeParse({ password_env: c.password_env, password_file: c.password_file });
    if (!r.success) ctx.addIssue({ code: "custom", message: r.error.issues[0]!.message, path: ["password_env"] });
  });
export type EppAccreditationConfig = z.infer<typeof eppAccreditationConfigSchema>;

export interface EppConnectorOptions {
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** ms a refused login is answered from memory (default LOGIN_REFUSAL_COOLDOWN_MS, session-pool.ts) */
  loginRefusalCooldownMs?: number;
}

/** The current pool of an accreditation and the settings it was made for. */
interface PoolEntry {
  pool: EppSessionPool;
  clID: string;
  settings: EppAccreditationConfig;
  maxSessions: number;
  /** hex SHA-256 of settings and maxSessions ({@link fingerprintOf}) */
  fingerprint: string;
  /** when the Accreditation object that set this pool up was read ({@link EppConnector.readAtOf}) */
  readAt: number;
}

/**
 * The RFC 5730 §2.5 clTRID provisio sends for a command: "<correlationId>-<attempt>" for an attempt's
 * main command, "<correlationId>-<attempt>-<step>" for a follow-up (e.g. "-info", "-reconcile").
 * With the job id as correlation id, a registry's logs show which job and attempt sent each command.
 */
export function clTRIDOf(ctx: CommandContext): string {
  const base = `${ctx.correlationId}-${ctx.attempt}`;
  return ctx.step ? `${base}-${ctx.step}` : base;
}

export class EppConnector implements Connector, RegistryOperations, HostOperations {
  readonly type = "epp";
  readonly capabilities: readonly Capability[] = ["registry", "host"];
  /** accreditation id -> its current pool */
  private readonly pools = new Map<string, PoolEntry>();
  /** accreditation id -> its pools being drained (settings replaced, sessions still borrowed) */
  private readonly draining = new Map<string, Set<EppSessionPool>>();
  /** Accreditation object without readAt -> when this connector first saw it (performance.now()) */
  private readonly seen = new WeakMap<Accreditation, number>();

  constructor(private readonly options: EppConnectorOptions = {}) {}

  async contactCreate(acc: Accreditation, input: ContactCreateInput, ctx: CommandContext): Promise<ContactCreateResult> {
    const { r } = await this.run(acc, ctx, "contact:create", contactCreateBody(input));
    return { ...parseContactCreData(r.resData), result: r.result };
  }

  async contactInfo(acc: Accreditation, input: { id: string; authInfo?: string }, ctx: CommandContext): Promise<ContactInfoResult> {
    const { r, clID } = await this.run(acc, ctx, "contact:info", contactInfoBody(input.id, input.authInfo));
    const d = parseContactInfData(r.resData);
    return { ...d, ours: d.clID === clID, result: r.result };
  }

  async domainCreate(acc: Accreditation, input: DomainCreateInput, ctx: CommandContext): Promise<DomainCreateResult> {
    const { r } = await this.run(acc, ctx, "domain:create", domainCreateBody(input));
    return { ...parseDomainCreData(r.resData), result: r.result };
  }

  async domainInfo(acc: Accreditation, input: { name: string; authInfo?: string }, ctx: CommandContext): Promise<DomainInfoResult> {
    const { r, clID } = await this.run(acc, ctx, "domain:info", domainInfoBody(input.name, input.authInfo));
    const d = parseDomainInfData(r.resData);
    return { ...d, ours: d.clID === clID, result: r.result };
  }

  async domainRenew(acc: Accreditation, input: DomainRenewInput, ctx: CommandContext): Promise<DomainRenewResult> {
    const { r } = await this.run(acc, ctx, "domain:renew", domainRenewBody(input));
    return { ...parseDomainRenData(r.resData), result: r.result };
  }

  async domainDelete(acc: Accreditation, input: { name: string }, ctx: CommandContext): Promise<RegistryOutcome> {
    const { r } = await this.run(acc, ctx, "domain:delete", domainDeleteBody(input.name));
    return { result: r.result };
  }

  async hostCreate(acc: Accreditation, input: HostCreateInput, ctx: CommandContext): Promise<HostCreateResult> {
    const { r } = await this.run(acc, ctx, "host:create", hostCreateBody(input));
    return { ...parseHostCreData(r.resData), result: r.result };
  }

  async hostInfo(acc: Accreditation, input: { name: string }, ctx: CommandContext): Promise<HostInfoResult> {
    const { r, clID } = await this.run(acc, ctx, "host:info", hostInfoBody(input.name));
    const d = parseHostInfData(r.resData);
    return { ...d, ours: d.clID === clID, result: r.result };
  }

  /**
   * Log out every idle session of every pool, the current ones and those being drained, and refuse new
   * borrowers; borrowed sessions are logged out when their command ends.
   */
  async close(): Promise<void> {
    const pools = [...this.pools.values()].map((e) => e.pool);
    for (const set of this.draining.values()) pools.push(...set);
    this.pools.clear();
    this.draining.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  /** Send one command on a session of the accreditation's current pool; returns the response and the clID it ran as. */
  private async run(acc: Accreditation, ctx: CommandContext, name: string, body: XmlNode): Promise<{ r: EppResponse; clID: string }> {
    const clTRID = clTRIDOf(ctx);
    for (let tries = 1; ; tries++) {
      const entry = this.entry(acc);
      try {
        const r = await entry.pool.use(clTRID + "-login", (session) => session.command(name, body, clTRID));
        return { r, clID: entry.clID };
      } catch (err) {
        // this call was waiting for a session of a pool whose settings were replaced meanwhile: nothing
        // was sent; the accreditation's current pool serves it
        const moved = err instanceof EppTransportError && err.code === "PV_EPP_POOL_CLOSED" && entry.pool.draining;
        if (moved && tries < 3 && this.pools.has(acc.id)) continue;
        throw err;
      }
    }
  }

  /**
   * The current pool for acc (see the module doc): the existing one when the settings are the same or
   * acc was read no later than the object that set it up, else a new one (the old one drains).
   * @throws ConfigurationError (PV_CONFIG) when acc.config is not a valid EPP config
   */
  private entry(acc: Accreditation): PoolEntry {
    const parsed = eppAccreditationConfigSchema.safeParse(acc.config);
    if (!parsed.success) {
      throw new ConfigurationError(
        `accreditation ${acc.id} (${acc.name}): invalid EPP config: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    }
    const settings = parsed.data;
    const fingerprint = fingerprintOf(settings, acc.maxSessions);
    const readAt = this.readAtOf(acc);
    const current = this.pools.get(acc.id);
    if (current && (current.fingerprint === fingerprint || readAt <= current.readAt)) return current;
    const log = logger().child({ component: "epp", accreditationId: acc.id });
    if (current) this.drain(acc.id, current, { settings, maxSessions: acc.maxSessions, fingerprint }, log);
    const entry: PoolEntry = { pool: this.newPool(acc, settings, log), clID: settings.clID, settings, maxSessions: acc.maxSessions, fingerprint, readAt };
    this.pools.set(acc.id, entry);
    return entry;
  }

  /**
   * When acc was read: its `readAt` (set by the tasks when the SELECT returned), else when this connector
   * first saw the object. Both are performance.now() of this process (ms, monotonic).
   */
  private readAtOf(acc: Accreditation): number {
    if (acc.readAt !== undefined) return acc.readAt;
    let at = this.seen.get(acc);
    if (at === undefined) this.seen.set(acc, (at = performance.now()));
    return at;
  }

  private newPool(acc: Accreditation, c: EppAccreditationConfig, log: Logger): EppSessionPool {
    const cfg = config();
    const id = acc.id;
    return new EppSessionPool({
      maxSessions: acc.maxSessions,
      idleTimeoutMs: this.options.idleTimeoutMs ?? cfg.PROVISIO_EPP_IDLE_TIMEOUT_MS,
      log,
      heldElsewhere: () => {
        let n = 0;
        for (const p of this.draining.get(id) ?? []) n += p.size;
        return n;
      },
      onSessionClosed: () => this.pools.get(id)?.pool.wake(),
      loginRefusalCooldownMs: this.options.loginRefusalCooldownMs,
      session: async (): Promise<EppSessionOptions> => ({
        host: c.host,
        port: c.port,
        clID: c.clID,
        password: resolveSecret({ password_env: c.password_env, password_file: c.password_file }),
        ca: c.tls.ca_file ? await readCa(id, c.tls.ca_file) : undefined,
        rejectUnauthorized: c.tls.reject_unauthorized,
        servername: c.tls.servername,
        connectTimeoutMs: this.options.connectTimeoutMs ?? cfg.PROVISIO_EPP_CONNECT_TIMEOUT_MS,
        commandTimeoutMs: this.options.commandTimeoutMs ?? cfg.PROVISIO_EPP_COMMAND_TIMEOUT_MS,
        log,
      }),
    });
  }

  /** Move `old` to the draining pools of accreditation `id`; forget it once its sessions are gone. */
  private drain(id: string, old: PoolEntry, next: Pick<PoolEntry, "settings" | "maxSessions" | "fingerprint">, log: Logger): void {
    let set = this.draining.get(id);
    if (!set) this.draining.set(id, (set = new Set()));
    const draining = set;
    draining.add(old.pool);
    log.info(
      { changed: changedFields(old, next), from: old.fingerprint.slice(0, 12), to: next.fingerprint.slice(0, 12), openSessions: old.pool.size },
      "EPP accreditation settings changed: new sessions use them; the old pool drains",
    );
    void old.pool.drain().then(() => {
      draining.delete(old.pool);
      if (!draining.size && this.draining.get(id) === draining) this.draining.delete(id);
    });
  }
}

/** Hex SHA-256 of the parsed settings (object keys sorted) and max_sessions. Holds no secret. */
export function fingerprintOf(settings: EppAccreditationConfig, maxSessions: number): string {
  return fingerprint({ settings, maxSessions });
}

/** Names of the settings that differ (e.g. ["port", "tls", "max_sessions"]), for the log. */
function changedFields(a: Pick<PoolEntry, "settings" | "maxSessions">, b: Pick<PoolEntry, "settings" | "maxSessions">): string[] {
  const keys = [...new Set([...Object.keys(a.settings), ...Object.keys(b.settings)])] as (keyof EppAccreditationConfig)[];
  const changed: string[] = keys.filter((k) => canonicalJson(a.settings[k]) !== canonicalJson(b.settings[k]));
  if (a.maxSessions !== b.maxSessions) changed.push("max_sessions");
  return changed;
}

/**
 * The PEM text of tls.ca_file, read now (each session open).
 * @throws ConfigurationError (PV_CONFIG) when the file cannot be read
 */
async function readCa(accreditationId: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigurationError(`accreditation ${accreditationId}: cannot read tls.ca_file ${file}`, { cause: err });
  }
}
