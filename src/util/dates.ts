/** Date helpers shared by connectors, the simulator and tasks. All in UTC. */

/** `date` plus `years` calendar years (UTC), as a new Date. RFC 5731 periods are whole years. */
export function addYears(date: Date, years: number): Date {
  const d = new Date(date);
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}
