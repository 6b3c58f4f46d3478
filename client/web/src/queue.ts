/** The server counts the jobs ahead of a queued job up to this (`QUEUE_POSITION_CAP` in
 * qollab-shared); that value means "this many or more". */
export const QUEUE_POSITION_CAP = 1000

/** A queued job's place for its badge: `#1` is next. */
export function queuePlace(ahead: number): string {
  return ahead >= QUEUE_POSITION_CAP ? `${QUEUE_POSITION_CAP.toLocaleString('en')}+ ahead` : `#${ahead + 1}`
}
