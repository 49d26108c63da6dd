/**
 * The EPP registry connector: RFC 5731 domain and RFC 5733 contact operations over pooled sessions,
 * one pool per accreditation. Accreditation config (JSON in accreditation.config):
 *   { "host": "epp.example", "port": 700, "clID": "registrar-id",
 *     "password_env": "VAR" | "password_file": "/path",            // the login secret, by reference
 *     "tls": { "ca_file": "/path/ca.pem", "reject_unauthorized": true, "servername": "..." } }
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { config, resolveSecret, secretRefSchema } from "../../config.js";
import { ConfigurationError } from "../../errors.js";
import { logger } from "../../logger.js";
import { registerCleanup } from "../cleanup.js";
import type {
  Accreditation, CommandContext, ContactCreateInput, ContactCreateResult, ContactInfoResult, DomainCreateInput,
  DomainCreateResult, DomainInfoResult, DomainRenewInput, DomainRenewResult, RegistryConnector, RegistryOutcome,
} from "../types.js";
import { contactCreateBody, contactInfoBody, parseContactCreData, parseContactInfData } from "./contact.js";
import { domainCreateBody, domainDeleteBody, domainInfoBody, domainRenewBody, parseDomainCreData, parseDomainInfData, parseDomainRenData } from "./domain.js";
import { EppSessionPool } from "./session-pool.js";
import type { XmlNode } from "./xml.js";
import type { EppResponse } from "./protocol.js";

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
}

export class EppConnector implements RegistryConnector {
  readonly type = "epp";
  private readonly pools = new Map<string, { pool: EppSessionPool; clID: string }>();
  private readonly unregister: () => void;

  constructor(private readonly options: EppConnectorOptions = {}) {
    this.unregister = registerCleanup(() => this.close());
  }

  async contactCreate(acc: Accreditation, input: ContactCreateInput, ctx: CommandContext): Promise<ContactCreateResult> {
    const r = await this.run(acc, ctx, "contact:create", contactCreateBody(input));
    return { ...parseContactCreData(r.resData), result: r.result };
  }

  async contactInfo(acc: Accreditation, input: { id: string; authInfo?: string }, ctx: CommandContext): Promise<ContactInfoResult> {
    const r = await this.run(acc, ctx, "contact:info", contactInfoBody(input.id, input.authInfo));
    const d = parseContactInfData(r.resData);
    return { ...d, ours: d.clID === this.entry(acc).clID, result: r.result };
  }

  async domainCreate(acc: Accreditation, input: DomainCreateInput, ctx: CommandContext): Promise<DomainCreateResult> {
    const r = await this.run(acc, ctx, "domain:create", domainCreateBody(input));
    return { ...parseDomainCreData(r.resData), result: r.result };
  }

  async domainInfo(acc: Accreditation, input: { name: string; authInfo?: string }, ctx: CommandContext): Promise<DomainInfoResult> {
    const r = await this.run(acc, ctx, "domain:info", domainInfoBody(input.name, input.authInfo));
    const d = parseDomainInfData(r.resData);
    return { ...d, ours: d.clID === this.entry(acc).clID, result: r.result };
  }

  async domainRenew(acc: Accreditation, input: DomainRenewInput, ctx: CommandContext): Promise<DomainRenewResult> {
    const r = await this.run(acc, ctx, "domain:renew", domainRenewBody(input));
    return { ...parseDomainRenData(r.resData), result: r.result };
  }

  async domainDelete(acc: Accreditation, input: { name: string }, ctx: CommandContext): Promise<RegistryOutcome> {
    const r = await this.run(acc, ctx, "domain:delete", domainDeleteBody(input.name));
    return { result: r.result };
  }

  /** Log out every pooled session. */
  async close(): Promise<void> {
    this.unregister();
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.pool.close()));
  }

  private run(acc: Accreditation, ctx: CommandContext, name: string, body: XmlNode): Promise<EppResponse> {
    return this.entry(acc).pool.use(ctx.clTRID + "-login", (session) => session.command(name, body, ctx.clTRID));
  }

  private entry(acc: Accreditation): { pool: EppSessionPool; clID: string } {
    const existing = this.pools.get(acc.id);
    if (existing) return existing;
    const parsed = eppAccreditationConfigSchema.safeParse(acc.config);
    if (!parsed.success) {
      throw new ConfigurationError(
        `accreditation ${acc.id} (${acc.name}): invalid EPP config: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    }
    const c = parsed.data;
    let ca: string | undefined;
    if (c.tls.ca_file) {
      try {
        ca = readFileSync(c.tls.ca_file, "utf8");
      } catch (err) {
        throw new ConfigurationError(`accreditation ${acc.id}: cannot read tls.ca_file ${c.tls.ca_file}`, { cause: err });
      }
    }
    const cfg = config();
    const log = logger().child({ component: "epp", accreditationId: acc.id });
    const pool = new EppSessionPool({
      maxSessions: acc.maxSessions,
      idleTimeoutMs: this.options.idleTimeoutMs ?? cfg.PROVISIO_EPP_IDLE_TIMEOUT_MS,
      log,
      session: {
        host: c.host,
        port: c.port,
        clID: c.clID,
        password: resolveSecret({ password_env: c.password_env, password_file: c.password_file }),
        ca,
        rejectUnauthorized: c.tls.reject_unauthorized,
        servername: c.tls.servername,
        connectTimeoutMs: this.options.connectTimeoutMs ?? cfg.PROVISIO_EPP_CONNECT_TIMEOUT_MS,
        commandTimeoutMs: this.options.commandTimeoutMs ?? cfg.PROVISIO_EPP_COMMAND_TIMEOUT_MS,
        log,
      },
    });
    const entry = { pool, clID: c.clID };
    this.pools.set(acc.id, entry);
    return entry;
  }
}
