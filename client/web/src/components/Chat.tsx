import { useEffect, useRef, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import type { ChatMessage } from '../api/types'
import { errorText } from '../screens/Auth'

export function Chat({ ws }: { ws: string }) {
  const { api, session } = useApp()
  const qc = useQueryClient()
  const [open, setOpen] = useState(true)
  const [text, setText] = useState('')
  const list = useQuery({
    queryKey: ['chat', ws],
    // The server pages newest first; the panel reads oldest first.
    queryFn: async () => (await api.chat(ws)).items.slice().reverse(),
    staleTime: Infinity,
  })
  const send = useMutation({
    mutationFn: (t: string) => api.postChat(ws, t),
    onSuccess: (m) => {
      qc.setQueryData<ChatMessage[]>(['chat', ws], (old) => (old ? (old.some((x) => x.id === m.id) ? old : [...old, m]) : [m]))
      setText('')
    },
  })
  const end = useRef<HTMLDivElement>(null)
  useEffect(() => {
    end.current?.scrollIntoView({ block: 'end' })
  }, [list.data?.length])
  function submit(e: FormEvent) {
    e.preventDefault()
    if (text.trim()) send.mutate(text.trim())
  }
  return (
    <aside className={`chat ${open ? 'open' : 'closed'}`} aria-label="Team chat">
      <div className="panel-head">
        <h2>Team chat</h2>
        <button type="button" className="ghost small" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Hide' : 'Chat'}
        </button>
      </div>
      {open && (
        <>
          <div className="chat-log" role="log" aria-live="polite">
            {list.data?.map((m) => (
              <div key={m.id} className={`chat-msg ${m.author_id === session?.user.id ? 'mine' : ''}`} data-testid="chat-message">
                <span className="chat-author">{m.author_name}</span>
                <time className="muted" dateTime={m.created_at}>{new Date(m.created_at).toLocaleTimeString()}</time>
                <p>{m.text}</p>
              </div>
            ))}
            {list.data?.length === 0 && <p className="muted">No messages yet.</p>}
            <div ref={end} />
          </div>
          <form className="chat-form" onSubmit={submit}>
            <label className="sr-only" htmlFor="chat-input">Message</label>
            <input
              id="chat-input"
              data-testid="chat-input"
              placeholder="Message the team"
              value={text}
              maxLength={4000}
              onChange={(e) => setText(e.target.value)}
            />
            <button type="submit" className="primary" disabled={send.isPending || !text.trim()}>Send</button>
          </form>
          {send.error && <p className="error" role="alert">{errorText(send.error)}</p>}
        </>
      )}
    </aside>
  )
}
