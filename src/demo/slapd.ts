/**
 * A throw-away OpenLDAP server for the tests and the demo (`npm start`): Debian's `slapd` started from a fresh temporary
 * directory with a generated slapd.conf (mdb database, core/cosine/inetorgperson/nis schemas, the memberof
 * and ppolicy overlays when their modules are installed), on a free port of 127.0.0.1, seeded with
 * ou=people, ou=groups and a few groupOfNames. Starts in well under a second; works as root (no -u given,
 * slapd keeps the caller's user) and as any other user.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "ldapts";
import { childDn } from "../connectors/ldap/dn.js";
import { makeCertificate } from "../simulators/epp-registry/certificate.js";
import { freePort } from "../util/net.js";

const SLAPD = ["/usr/sbin/slapd", "/usr/local/sbin/slapd", "/usr/local/libexec/slapd"].find((p) => existsSync(p));
const SCHEMA_DIR = "/etc/ldap/schema";
const MODULE_DIR = "/usr/lib/ldap";

let warnedMemberof = false;

/** The placeholder member of the seeded groups (groupOfNames needs one; the LDAP adapter's default emptyGroupMember). */
export const SEED_PLACEHOLDER = "cn=nobody";

export interface Slapd {
  /** ldap://127.0.0.1:<port> */
  url: string;
  /** with options.tls: ldaps://127.0.0.1:<another port>, and the PEM file of its (self-signed) certificate */
  ldapsUrl?: string;
  caFile?: string;
  port: number;
  /** the database suffix, dc=provisio,dc=test */
  baseDN: string;
  /** the rootdn and its password (rootpw, plain text) */
  adminDN: string;
  adminPassword: string;
  peopleDN: string;
  groupsDN: string;
  /** DNs of the seeded groups (members: {@link SEED_PLACEHOLDER} only) */
  groups: string[];
  /** overlays loaded: memberof (memberOf on member entries), ppolicy (defines pwdAccountLockedTime) */
  overlays: { memberof: boolean; ppolicy: boolean };
  /** the temporary directory (config, database, pid file) */
  dir: string;
  /** a client bound as the rootdn (the caller unbinds it) */
  admin(): Promise<Client>;
  /** stop slapd but keep its directory (the server is down until {@link restart}) */
  kill(): Promise<void>;
  /** stop slapd (if running) and start it again on the same port with the same database */
  restart(): Promise<void>;
  /** kill slapd (SIGTERM, SIGKILL after 2 s) and remove the directory; safe to call twice */
  stop(): Promise<void>;
}

export interface SlapdOptions {
  /** also listen on ldaps:// (and allow StartTLS) with a fresh self-signed certificate for localhost/127.0.0.1 */
  tls?: boolean;
  /** cn values of the groupOfNames seeded below ou=groups (default staff, developers, operators) */
  groups?: string[];
}

/** Whether Debian's slapd and its schemas are installed here. */
export function slapdInstalled(): boolean {
  return Boolean(SLAPD && existsSync(path.join(SCHEMA_DIR, "core.schema")));
}

/**
 * Start slapd. Resolves once an LDAP bind as the rootdn succeeds and the seed entries are written.
 * @throws Error naming `apt-get install -y slapd ldap-utils` when slapd is not installed; Error with
 *   slapd's output when it exits or does not answer within 5 s
 */
export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  if (!slapdInstalled()) {
    throw new Error("slapd (OpenLDAP) is not installed: the LDAP tests need it. Install it with: apt-get install -y slapd ldap-utils");
  }
  const slapd = SLAPD!;
  const dir = await mkdtemp(path.join(tmpdir(), "provisio-slapd-"));
  await mkdir(path.join(dir, "db"));
  const port = await freePort();
  const baseDN = "dc=provisio,dc=test";
  const adminDN = `cn=admin,${baseDN}`;
  const adminPassword = "slapd-test-admin-pw";
  const has = (m: string) => existsSync(path.join(MODULE_DIR, `${m}.la`)) || existsSync(path.join(MODULE_DIR, `${m}.so`));
  const overlays = { memberof: has("memberof"), ppolicy: has("ppolicy") };
  if (!overlays.memberof && !warnedMemberof) {
    warnedMemberof = true;
    console.warn(`slapd helper: the memberof module is not in ${MODULE_DIR}; starting slapd without the memberof overlay (no memberOf attributes)`);
  }
  const conf = [
    ...["core", "cosine", "inetorgperson", "nis"].map((s) => `include ${SCHEMA_DIR}/${s}.schema`),
    `pidfile ${dir}/slapd.pid`,
    `argsfile ${dir}/slapd.args`,
    existsSync(MODULE_DIR) ? `modulepath ${MODULE_DIR}` : "",
    has("back_mdb") ? "moduleload back_mdb" : "",
    overlays.memberof ? "moduleload memberof" : "",
    overlays.ppolicy ? "moduleload ppolicy" : "",
    "database mdb",
    "maxsize 16777216",
    `suffix "${baseDN}"`,
    `rootdn "${adminDN}"`,
    `rootpw ${adminPassword}`,
    `directory ${dir}/db`,
    overlays.memberof ? "overlay memberof" : "",
    overlays.ppolicy ? "overlay ppolicy" : "",
    "",
  ].join("\n");
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = options.tls ? `ldaps://127.0.0.1:${await freePort()}` : undefined;
  const caFile = options.tls ? path.join(dir, "cert.pem") : undefined;
  let tlsConf = "";
  if (options.tls) {
    const { cert, key } = await makeCertificate();
    await writeFile(caFile!, cert);
    await writeFile(path.join(dir, "key.pem"), key, { mode: 0o600 });
    tlsConf = `TLSCertificateFile ${caFile}\nTLSCertificateKeyFile ${path.join(dir, "key.pem")}\n`;
  }
  // TLS settings are global: they go before the database section
  await writeFile(path.join(dir, "slapd.conf"), conf.replace("database mdb", `${tlsConf}database mdb`));
  const listen = [url, ldapsUrl]
    .filter(Boolean)
    .map((u) => `${u}/`)
    .join(" ");
  let server = launch(slapd, dir, listen);
  const killOnExit = () => server.child.kill("SIGKILL");
  process.once("exit", killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      process.removeListener("exit", killOnExit);
      await killChild(server.child);
      await rm(dir, { recursive: true, force: true });
    })());

  const admin = async () => {
    const c = new Client({ url, timeout: 5_000, connectTimeout: 2_000 });
    await c.bind(adminDN, adminPassword);
    return c;
  };

  try {
    const client = await waitUntilAnswering(server, admin, url, conf);
    const peopleDN = `ou=people,${baseDN}`;
    const groupsDN = `ou=groups,${baseDN}`;
    const cns = options.groups ?? ["staff", "developers", "operators"];
    const groups = cns.map((cn) => childDn("cn", cn, groupsDN));
    try {
      await client.add(baseDN, { objectClass: ["dcObject", "organization"], dc: "provisio", o: "provisio" });
      await client.add(peopleDN, { objectClass: "organizationalUnit", ou: "people" });
      await client.add(groupsDN, { objectClass: "organizationalUnit", ou: "groups" });
      for (const [i, dn] of groups.entries()) await client.add(dn, { objectClass: "groupOfNames", cn: cns[i]!, member: SEED_PLACEHOLDER });
    } finally {
      await client.unbind();
    }
    const restart = async () => {
      await killChild(server.child);
      server = launch(slapd, dir, listen);
      await (await waitUntilAnswering(server, admin, url, conf)).unbind();
    };
    const kill = () => killChild(server.child);
    return { url, ldapsUrl, caFile, port, baseDN, adminDN, adminPassword, peopleDN, groupsDN, groups, overlays, dir, admin, kill, restart, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface Running {
  child: ChildProcess;
  /** stdout and stderr so far */
  output: () => string;
  /** exit code or signal once exited */
  exited: () => number | string | null | undefined;
}

/**
 * Spawn slapd in the foreground (-d 0: no debug output, no detaching) so the child is slapd itself.
 * `listen`: the -h argument, space-separated URLs.
 */
function launch(slapd: string, dir: string, listen: string): Running {
  const child = spawn(slapd, ["-f", path.join(dir, "slapd.conf"), "-h", listen, "-d", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let exited: number | string | null | undefined;
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  child.once("exit", (code, signal) => (exited = code ?? signal));
  return { child, output: () => output, exited: () => exited };
}

/** Retry a rootdn bind every 20 ms until it succeeds (resolves the bound client) or 5 s pass. */
async function waitUntilAnswering(server: Running, admin: () => Promise<Client>, url: string, conf: string): Promise<Client> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const exited = server.exited();
    if (exited !== undefined) throw new Error(`slapd exited (${exited}) before answering:\n${server.output()}\nslapd.conf:\n${conf}`);
    try {
      return await admin();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`slapd did not answer on ${url} within 5 s (${String(err)}):\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 2_000);
  await gone;
  clearTimeout(timer);
}
