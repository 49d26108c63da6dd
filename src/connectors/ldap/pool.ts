/**
 * Bound LDAP connections of the LDAP adapter, one per distinct configuration.
 *
 * Entries are keyed by a fingerprint of the parsed configuration ({@link ldapFingerprint}: hex SHA-256 of
 * its canonical JSON; it holds the secret's *reference*, never its value). A configuration that changes
 * (another URL, bind DN, secret reference, TLS setting) gets a new entry; an entry unused for
 * `timeouts.idleMs` is unbound and forgotten, so old configurations do not pile up.
 *
 * LDAP multiplexes operations on one connection (RFC 4511 §5.1), so concurrent calls share the entry's
 * client. The password is resolved (src/config.ts resolveSecret) and tls.ca_file read at each bind, so a
 * rotated secret is used by the next connection. ldapts reconnects by itself when an operation is sent on a
 * closed socket, but *anonymously*; every operation therefore goes through {@link LdapClientPool.client},
 * which returns a client only when it is connected and bound, and binds a new one otherwise.
 *
 * Some state lives on the connection rather than in a request: a server keeps a simple paged results search
 * (RFC 2696) per connection, and OpenLDAP keeps only one, so a second paged search on the same connection
 * invalidates the first one's cookie (protocolError 2 "paged results cookie is invalid"). An operation that
 * spans several requests with such state takes a connection of its own with {@link LdapClientPool.lease}:
 * opened and bound the same way, not shared, unbound when released (or when the pool is closed).
 */
import { readFile } from "node:fs/promises";
import type { ConnectionOptions } from "node:tls";
import { Client } from "ldapts";
import { resolveSecret } from "../../config.js";
import { ConfigurationError, TransientError } from "../../errors.js";
import type { LdapConfig } from "./config.js";
import { toProvisioError } from "./errors.js";
import { fingerprint } from "../../util/fingerprint.js";

interface Entry {
  settings: LdapConfig;
  fingerprint: string;
  /** the current client; replaced by a new one at each (re)bind */
  client?: Client;
  /** the bind of `client` (settled: bound or failed); undefined before the first bind */
  bound?: Promise<void>;
  bindPending: boolean;
  /** calls of {@link LdapClientPool.use} running on this entry */
  inflight: number;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Hex SHA-256 of the configuration's canonical JSON (object keys sorted, undefined left out). Holds no
 * secret: the config names the secret's variable or file only.
 */
export function ldapFingerprint(settings: LdapConfig): string {
  return fingerprint(settings);
}

/** A handle on one configuration's connection for the duration of {@link LdapClientPool.use}. */
export interface LdapHandle {
  /**
   * A connected, bound client, to be used at once (synchronously after the await) for one operation.
   * @throws TransientError when no connection can be opened; PermanentError (configSuspect) when the bind
   *   is refused (49 invalid credentials, ...); ConfigurationError when the secret cannot be resolved
   */
  client(): Promise<Client>;
}

/** A connection of its own, bound as the configuration says ({@link LdapClientPool.lease}). */
export interface LdapLease {
  /**
   * The leased client. It is not bound again when it loses its connection (a new connection would not
   * carry the server's per-connection state): check `isConnected` before each request and fail instead.
   */
  readonly client: Client;
  /** true once released (by {@link release} or by the pool's close()) */
  readonly released: boolean;
  /** Unbind the connection (waits at most 2 s for the server); safe to call twice. */
  release(): Promise<void>;
}

export class LdapClientPool {
  private readonly entries = new Map<string, Entry>();
  /** clients handed out by {@link lease} and not released yet */
  private readonly leased = new Set<Client>();
  private closed = false;

  /** @param env where password_env secrets are looked up (default process.env) */
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** Number of configurations with an entry (for tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Number of leased connections not released yet (for tests). */
  get leases(): number {
    return this.leased.size;
  }

  /**
   * Run `fn` with a handle on the connection for `settings` (bound before `fn` runs, so a refused bind or
   * an unreachable server fails here). The entry's idle timer starts again when the last call ends.
   * @throws TransientError PV_LDAP_CLOSED after {@link close}; whatever binding or `fn` throws
   */
  async use<T>(settings: LdapConfig, fn: (handle: LdapHandle) => Promise<T>): Promise<T> {
    if (this.closed) throw new TransientError("PV_LDAP_CLOSED", "the LDAP connector is closed (worker shutting down)");
    const fingerprint = ldapFingerprint(settings);
    let entry = this.entries.get(fingerprint);
    if (!entry) {
      entry = { settings, fingerprint, bindPending: false, inflight: 0 };
      this.entries.set(fingerprint, entry);
    }
    const e = entry;
    e.inflight++;
    if (e.idleTimer) clearTimeout(e.idleTimer);
    e.idleTimer = undefined;
    try {
      const handle: LdapHandle = { client: () => this.client(e) };
      await handle.client();
      return await fn(handle);
    } finally {
      e.inflight--;
      if (e.inflight === 0 && !this.closed) {
        e.idleTimer = setTimeout(() => void this.retire(e), e.settings.timeouts.idleMs);
        e.idleTimer.unref();
      }
    }
  }

  /**
   * Open and bind a connection for `settings` that no one else uses (see the module doc), e.g. for a paged
   * search whose cookie the server ties to the connection. The caller releases it when done; close()
   * releases every lease still held.
   * @throws TransientError PV_LDAP_CLOSED after {@link close}; as {@link LdapHandle.client} when the
   *   connection cannot be opened or the bind is refused
   */
  async lease(settings: LdapConfig): Promise<LdapLease> {
    if (this.closed) throw new TransientError("PV_LDAP_CLOSED", "the LDAP connector is closed (worker shutting down)");
    let opened: Client | undefined;
    try {
      await this.open(settings, (c) => {
        opened = c;
        this.leased.add(c);
      });
    } catch (err) {
      if (opened) this.leased.delete(opened);
      throw err;
    }
    const client = opened!;
    if (this.closed) {
      // close() ran while binding: it did not see the client bound yet
      await unbindClient(client);
      this.leased.delete(client);
      throw new TransientError("PV_LDAP_CLOSED", "the LDAP connector is closed (worker shutting down)");
    }
    const leased = this.leased;
    return {
      client,
      get released() {
        return !leased.has(client);
      },
      async release() {
        if (!leased.delete(client)) return;
        await unbindClient(client);
      },
    };
  }

  /** Unbind every connection (leases included) and refuse new calls. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values()];
    this.entries.clear();
    const leased = [...this.leased];
    this.leased.clear();
    await Promise.all([...all.map((e) => this.unbind(e)), ...leased.map(unbindClient)]);
  }

  /** A connected and bound client of `e`, binding a new one when there is none or it lost its connection. */
  private async client(e: Entry): Promise<Client> {
    for (let tries = 0; tries < 3; tries++) {
      if (!e.bound || (!e.bindPending && !e.client?.isConnected)) this.startBind(e);
      await e.bound;
      // checked here, synchronously before the caller's operation: a client that lost its connection would
      // otherwise reconnect anonymously inside ldapts
      if (!e.bindPending && e.client?.isConnected) return e.client;
    }
    throw new TransientError("PV_LDAP_CONNECTION", `connection to ${e.settings.url} was lost right after binding`, { configSuspect: true });
  }

  private startBind(e: Entry): void {
    e.bindPending = true;
    const old = e.client;
    if (old) void old.unbind().catch(() => undefined);
    e.client = undefined;
    e.bound = this.bind(e).then(
      () => {
        e.bindPending = false;
      },
      (err: unknown) => {
        e.bindPending = false;
        e.bound = undefined;
        throw err;
      },
    );
  }

  /** Open a connection for the entry (see {@link open}); `e.client` is the client from its creation on. */
  private async bind(e: Entry): Promise<void> {
    let created: Client | undefined;
    try {
      await this.open(e.settings, (c) => {
        created = c;
        e.client = c;
      });
    } catch (err) {
      if (created && e.client === created) e.client = undefined;
      throw err;
    }
  }

  /**
   * Open a connection (StartTLS when configured) and bind as settings.bindDN (RFC 4511 §4.2 simple bind).
   * `created` is told of the client as soon as it exists (before it is connected), so that close() can
   * unbind one that is still binding. On failure the client is unbound and the error mapped (connecting).
   */
  private async open(s: LdapConfig, created: (client: Client) => void): Promise<Client> {
    const password = resolveSecret({ password_env: s.password_env, password_file: s.password_file }, this.env);
    const tlsOptions: ConnectionOptions = {
      ca: s.tls.ca_file ? await readCa(s.tls.ca_file) : undefined,
      rejectUnauthorized: s.tls.reject_unauthorized,
      servername: s.tls.servername,
    };
    const secure = s.url.startsWith("ldaps:");
    // ldapts switches to TLS whenever tlsOptions has a defined value, so they are given for ldaps:// only
    const client = new Client({
      url: s.url,
      timeout: s.timeouts.operationMs,
      connectTimeout: s.timeouts.connectMs,
      tlsOptions: secure ? tlsOptions : undefined,
    });
    created(client);
    try {
      if (s.tls.starttls) {
        const host = new URL(s.url).hostname;
        await client.startTLS({ ...tlsOptions, host, servername: s.tls.servername ?? host });
      }
      await client.bind(s.bindDN, password);
      return client;
    } catch (err) {
      await client.unbind().catch(() => undefined);
      throw toProvisioError(err, `LDAP bind as ${s.bindDN} at ${s.url}`, { connecting: true });
    }
  }

  /** Forget an idle entry and unbind its connection. */
  private async retire(e: Entry): Promise<void> {
    if (e.inflight > 0 || this.entries.get(e.fingerprint) !== e) return;
    this.entries.delete(e.fingerprint);
    await this.unbind(e);
  }

  private async unbind(e: Entry): Promise<void> {
    if (e.idleTimer) clearTimeout(e.idleTimer);
    const client = e.client;
    e.client = undefined;
    e.bound = undefined;
    if (client) await unbindClient(client);
  }
}

/** Unbind a client, waiting at most 2 s for the server; never throws. */
async function unbindClient(client: Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.unbind().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)))]);
  clearTimeout(timer);
}

/** The PEM text of tls.ca_file, read now (each bind). @throws ConfigurationError when it cannot be read */
async function readCa(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigurationError(`LDAP tls.ca_file ${file} cannot be read`, { cause: err });
  }
}
