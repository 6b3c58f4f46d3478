// "Streaks count days in <zone>" with a way to change it: a list of the browser's IANA
// zones (a text field where the browser cannot list them), saved with PATCH /api/me.
import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import { ErrorNote } from './ErrorNote'
import { browserTimeZone, groupZones, supportedTimeZones, timeZoneChoices, UTC, zoneLabel, zoneText, zoneToSend } from '../timezone'

export function TimeZoneSetting() {
  const { api } = useApp()
  const qc = useQueryClient()
  const id = useId()
  const account = useQuery({ queryKey: ['me'], queryFn: () => api.me() })
  const current = account.data ? zoneLabel(account.data.user.time_zone) : null
  const [editing, setEditing] = useState(false)
  // Closing the form gives the focus back to the button that opened it.
  const changeButton = useRef<HTMLButtonElement>(null)
  const wasEditing = useRef(false)
  useEffect(() => {
    if (wasEditing.current && !editing) changeButton.current?.focus()
    wasEditing.current = editing
  }, [editing])
  const [choice, setChoice] = useState<string | null>(null)
  const supported = useMemo(() => supportedTimeZones(), [])
  const browser = useMemo(() => browserTimeZone(), [])
  const groups = useMemo(
    () => (supported ? groupZones(timeZoneChoices(supported, current, browser).filter((z) => z !== UTC)) : []),
    [supported, current, browser],
  )
  const save = useMutation({
    mutationFn: (zone: string) => api.updateMe({ time_zone: zoneToSend(zone) }),
    onSuccess: (me) => {
      qc.setQueryData(['me'], me)
      // Streaks and active days are recounted in the new zone.
      void qc.invalidateQueries({ queryKey: ['progress', 'me'] })
      setEditing(false)
      setChoice(null)
    },
  })
  const value = choice ?? current ?? UTC
  const submit = (e: FormEvent) => {
    e.preventDefault()
    save.mutate(value)
  }
  const cancel = () => {
    setEditing(false)
    setChoice(null)
    save.reset()
  }
  return (
    <div className="tz-setting">
      <p className="row">
        <span>
          Streaks count days in <strong data-testid="streak-zone">{current ?? '…'}</strong>
          {account.data && account.data.user.time_zone == null ? <span className="muted"> (the default)</span> : null}.
        </span>
        {!editing && (
          <button
            type="button"
            ref={changeButton}
            className="small"
            disabled={!account.data}
            onClick={() => {
              save.reset()
              setEditing(true)
            }}
          >
            Change time zone
          </button>
        )}
      </p>
      {account.error && <ErrorNote error={account.error} />}
      {editing && (
        <form className="row" onSubmit={submit} onKeyDown={(e) => e.key === 'Escape' && !save.isPending && cancel()}>
          <label htmlFor={`${id}-zone`}>Time zone</label>
          {supported ? (
            <select
              id={`${id}-zone`}
              value={value}
              onChange={(e) => setChoice(e.target.value)}
              autoFocus
            >
              <option value={UTC}>UTC</option>
              {groups.map((g) => (
                <optgroup key={g.region} label={g.region}>
                  {g.zones.map((z) => (
                    <option key={z} value={z}>{zoneText(z)}</option>
                  ))}
                </optgroup>
              ))}
            </select>
          ) : (
            <input
              id={`${id}-zone`}
              value={value}
              onChange={(e) => setChoice(e.target.value)}
              placeholder="Europe/Berlin"
              autoComplete="off"
              spellCheck={false}
              aria-describedby={`${id}-hint`}
              autoFocus
            />
          )}
          <button type="submit" className="primary" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : 'Save'}
          </button>
          <button type="button" onClick={cancel}>
            Cancel
          </button>
          {!supported && (
            <span id={`${id}-hint`} className="muted">
              An IANA name such as Europe/Berlin or America/New_York, or UTC.
            </span>
          )}
          {browser && browser !== value && (
            <button type="button" className="ghost small" onClick={() => setChoice(browser)}>
              Use this browser’s zone ({browser})
            </button>
          )}
        </form>
      )}
      {save.error && <ErrorNote error={save.error} testId="time-zone-error" />}
    </div>
  )
}
