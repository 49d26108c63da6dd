/**
 * The named placeholders of the "tables" mode's statements (src/connectors/sql/connector.ts): an
 * application's own SQL, written with `:userIdInApp`, `:entitlement`, ... and turned into the driver's
 * positional parameters, so every value is bound by the server and never spliced into the text.
 *
 * PostgreSQL gets `$1, $2, ...` (one number per distinct name, reused for repeats); MariaDB gets one `?`
 * per occurrence (a prepared statement, mysql2 `execute`). Placeholders are recognised outside string
 * literals, quoted identifiers and comments only, so `':userName'` in quotes stays text and `x::text` (a
 * PostgreSQL cast) is not a placeholder. The dialect's lexical rules followed here:
 * - PostgreSQL: '...' ('' escapes; E'...' also takes backslash escapes), "..." identifiers, $tag$...$tag$
 *   bodies, -- and (nested) block comments; `$1` (a positional parameter of the author's) is refused.
 * - MariaDB: '...' and "..." strings (backslash and doubled-quote escapes: the adapter keeps
 *   NO_BACKSLASH_ESCAPES off in its sessions), `...` identifiers, -- (followed by a blank), # and block
 *   comments; `?` (a positional parameter of the author's) is refused.
 */

/** The names a statement may use, and what each one is bound to. */
export const PLACEHOLDERS = {
  /** the user's id in the application (AccountDesiredState.userIdInApp) */
  userIdInApp: "the user's id in the application",
  /** the identity's username (attributes.userName) */
  userName: "the identity's username",
  /** the identity's email (attributes.email, NULL when unknown) */
  email: "the identity's email",
  /** the identity's display name (attributes.displayName, NULL when unknown) */
  displayName: "the identity's display name",
  /** the `id` column find_account returned */
  accountId: "the id find_account returned",
  /** the entitlement's native key (grant and revoke only) */
  entitlement: "the entitlement's native key",
  /** list_accounts only: the last user_id of the previous page ('' for the first page) */
  after: "the last user_id of the previous page",
  /** list_accounts only: the most rows one page may return (DiscoveryRequest.pageSize, a number) */
  pageSize: "the most rows of one page",
} as const;
export type PlaceholderName = keyof typeof PLACEHOLDERS;

/** SQL dialects the adapter speaks. */
export type SqlDialect = "postgresql" | "mariadb";

/** A statement in the driver's own parameter syntax, with the name bound to each positional parameter. */
export interface CompiledStatement {
  /** the SQL text with $n (PostgreSQL) or ? (MariaDB) in place of each named placeholder */
  text: string;
  /** the placeholder name of parameter 1, 2, ...; PostgreSQL: distinct names, MariaDB: one per occurrence */
  params: PlaceholderName[];
}

/** A statement that cannot be used: an unknown placeholder, a positional parameter, an unterminated quote. */
export class StatementError extends Error {}

const identStart = /[A-Za-z_]/;
const identChar = /[A-Za-z0-9_$]/;

/**
 * Turn a statement with named placeholders into the driver's positional form.
 * @param allowed the names this statement may use (find_account cannot use :accountId, for example)
 * @throws StatementError for a name not in `allowed` or not known, a positional parameter of the
 *   author's own ($1 or ?), or an unterminated string, identifier or comment
 */
export function compileStatement(
  sql: string,
  dialect: SqlDialect,
  allowed: readonly PlaceholderName[] = Object.keys(PLACEHOLDERS) as PlaceholderName[],
): CompiledStatement {
  const params: PlaceholderName[] = [];
  let out = "";
  let i = 0;
  const n = sql.length;
  /** copy up to and including the closing `quote`; `backslash`: a backslash escapes the next character */
  const quoted = (quote: string, backslash: boolean, what: string) => {
    const start = i;
    i++;
    for (;;) {
      if (i >= n) throw new StatementError(`unterminated ${what} starting at offset ${start}`);
      const c = sql[i]!;
      if (backslash && c === "\\") {
        i += 2;
        continue;
      }
      if (c === quote) {
        if (sql[i + 1] === quote) {
          i += 2;
          continue;
        }
        i++;
        break;
      }
      i++;
    }
    out += sql.slice(start, i);
  };
  const lineComment = () => {
    const end = sql.indexOf("\n", i);
    const stop = end < 0 ? n : end;
    out += sql.slice(i, stop);
    i = stop;
  };
  const blockComment = () => {
    const start = i;
    let depth = 0;
    do {
      if (sql.startsWith("/*", i)) {
        depth++;
        i += 2;
      } else if (sql.startsWith("*/", i)) {
        depth--;
        i += 2;
      } else i++;
      if (dialect === "mariadb" && depth > 1) depth = 1; // MariaDB's comments do not nest
    } while (depth > 0 && i < n);
    if (depth > 0) throw new StatementError(`unterminated comment starting at offset ${start}`);
    out += sql.slice(start, i);
  };
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    const prev = i > 0 ? sql[i - 1]! : "";
    if (c === "'") {
      const escapeString = dialect === "mariadb" || /[eE]/.test(prev);
      quoted("'", escapeString, "string literal");
    } else if (c === '"') {
      quoted('"', dialect === "mariadb", dialect === "mariadb" ? "string literal" : "quoted identifier");
    } else if (c === "`" && dialect === "mariadb") {
      quoted("`", false, "quoted identifier");
    } else if (c === "-" && next === "-" && (dialect === "postgresql" || i + 2 >= n || /\s/.test(sql[i + 2]!))) {
      lineComment();
    } else if (c === "#" && dialect === "mariadb") {
      lineComment();
    } else if (c === "/" && next === "*") {
      blockComment();
    } else if (c === "$" && dialect === "postgresql" && !identChar.test(prev)) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        if (end < 0) throw new StatementError(`unterminated dollar-quoted string starting at offset ${i}`);
        out += sql.slice(i, end + tag[0].length);
        i = end + tag[0].length;
      } else if (next !== undefined && /[0-9]/.test(next)) {
        throw new StatementError(
          `positional parameter $${/^\$(\d+)/.exec(sql.slice(i))![1]} at offset ${i}: use the named placeholders (${Object.keys(PLACEHOLDERS)
            .map((k) => ":" + k)
            .join(", ")})`,
        );
      } else {
        out += c;
        i++;
      }
    } else if (c === "?" && dialect === "mariadb") {
      throw new StatementError(
        `positional parameter ? at offset ${i}: use the named placeholders (${Object.keys(PLACEHOLDERS)
          .map((k) => ":" + k)
          .join(", ")})`,
      );
    } else if (c === ":" && next === ":") {
      out += "::";
      i += 2;
    } else if (c === ":" && next !== undefined && identStart.test(next) && !identChar.test(prev)) {
      const name = /^:([A-Za-z_][A-Za-z0-9_]*)/.exec(sql.slice(i))![1]!;
      if (!(name in PLACEHOLDERS)) {
        throw new StatementError(
          `unknown placeholder :${name} at offset ${i} (known: ${Object.keys(PLACEHOLDERS)
            .map((k) => ":" + k)
            .join(", ")})`,
        );
      }
      const p = name as PlaceholderName;
      if (!allowed.includes(p)) throw new StatementError(`placeholder :${name} cannot be used here (allowed: ${allowed.map((k) => ":" + k).join(", ")})`);
      if (dialect === "postgresql") {
        let k = params.indexOf(p);
        if (k < 0) k = params.push(p) - 1;
        out += `$${k + 1}`;
      } else {
        params.push(p);
        out += "?";
      }
      i += name.length + 1;
    } else {
      out += c;
      i++;
    }
  }
  return { text: out, params };
}

/** Values for a statement's parameters, in order; a missing value (undefined) is bound as NULL. */
export function bindValues(stmt: CompiledStatement, values: Partial<Record<PlaceholderName, unknown>>): unknown[] {
  return stmt.params.map((p) => values[p] ?? null);
}
