/**
 * The sql connector's discovery pass (SqlConnector.discoverAccounts, src/connectors/capabilities/account.ts
 * DiscoveredAccount): the accounts of an application page by page, each with the entitlements it holds
 * among the request's entitlementKeys. Read-only.
 *
 * Keyset pagination: a page is read after the last name (login, user_id) of the previous one, '' for
 * the first, at most pageSize rows, ordered by that name; a page with fewer rows than pageSize is the
 * last. How each mode reads a page is an {@link AccountPageReader}: roles.ts (postgresAccountPages,
 * mariadbAccountPages), tables.ts (tablesAccountPages).
 *
 * Each page borrows a connection from the connector's pool (pools.ts) and gives it back before the page
 * is handed to the caller, so a caller that stops iterating, or takes its time between pages, holds no
 * connection. A driver error is classified as the rest of the adapter does (errors.ts driverFailure:
 * TransientError, PermanentError, ConfigurationError) and thrown from the iteration: the pass is then
 * partial (the pages already yielded stand, nothing after them was seen).
 */
import type { Logger } from "../../logger.js";
import type { DiscoveredAccount } from "../capabilities/account.js";
import { driverFailure } from "./errors.js";
import type { SqlSession } from "./pools.js";
import type { SqlDialect } from "./statements.js";

/** One page as a reader read it. */
export interface AccountPage {
  /** the accounts of the page, in the reader's order */
  accounts: DiscoveredAccount[];
  /** the rows the page's statement returned; fewer than the page size: the listing ends here */
  rows: number;
  /** the name to read the next page after (the last row's); undefined when the page is empty */
  last: string | undefined;
}

/**
 * Read the page of accounts whose names sort after `after` ('' for the first page), at most `pageSize`
 * rows (a tables-mode statement may ignore the limit: the rows are then handed out in pages of
 * pageSize). Driver errors are thrown as they are.
 */
export type AccountPageReader = (session: SqlSession, after: string, pageSize: number) => Promise<AccountPage>;

/** Keys once each, in first-seen order. */
export function uniqueKeys(keys: readonly string[]): string[] {
  return [...new Set(keys)];
}

/**
 * Of `keys` (unique, in the request's order and spelling), those in `held`. Compared exactly, as
 * applyDesiredState compares them (plan.ts): a PostgreSQL or MariaDB role name is case-sensitive.
 */
export function heldAmong(keys: readonly string[], held: Iterable<string>): string[] {
  const set = held instanceof Set ? (held as Set<string>) : new Set(held);
  return keys.filter((k) => set.has(k));
}

/**
 * Run a discovery pass: read pages with `read` until one has fewer rows than `pageSize`, yielding each
 * non-empty one (split into pages of at most pageSize accounts).
 * @param open borrows a connection (pools.ts SqlPools.session, which classifies its own errors)
 * @throws what driverFailure makes of a driver error (TransientError, PermanentError), or the
 *   ProvisioError a reader or `open` threw, from the iteration that hits it
 */
export async function* discoverPages(
  dialect: SqlDialect,
  open: () => Promise<SqlSession>,
  read: AccountPageReader,
  pageSize: number,
  log: Logger,
): AsyncGenerator<DiscoveredAccount[], void, undefined> {
  let after = "";
  let accounts = 0;
  let pages = 0;
  for (;;) {
    const session = await open();
    let page: AccountPage;
    let failed = true;
    try {
      page = await read(session, after, pageSize);
      failed = false;
    } catch (err) {
      throw driverFailure(dialect, err, session.where, false);
    } finally {
      // after an error the connection may be broken or mid-statement: close it rather than reuse it
      session.release(failed);
    }
    for (let i = 0; i < page.accounts.length; i += pageSize) {
      const chunk = page.accounts.slice(i, i + pageSize);
      accounts += chunk.length;
      pages++;
      yield chunk;
    }
    if (page.rows < pageSize || page.last === undefined) break;
    after = page.last;
  }
  log.info({ accounts, pages }, "sql accounts discovered");
}
