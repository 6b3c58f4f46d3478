import { useState, type FormEvent } from 'react'
import { Link, Navigate, useLocation, useNavigate } from 'react-router-dom'
import { ApiError } from '../api/client'
import { useApp } from '../context'
import { TopBar } from '../components/TopBar'

export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    const d = e.details as { fields?: Record<string, string> } | Array<{ field?: string; message?: string }> | undefined
    if (Array.isArray(d) && d.length) return `${e.message}: ${d.map((f) => `${f.field ?? ''} ${f.message ?? ''}`.trim()).join('; ')}`
    if (e.status === 401 && e.code === 'invalid_credentials') return 'Wrong email or password.'
    return e.message
  }
  if (e instanceof TypeError) return 'Cannot reach the server. Check your connection and try again.'
  return e instanceof Error ? e.message : String(e)
}

export function AuthScreen({ mode }: { mode: 'login' | 'register' }) {
  const { api, session } = useApp()
  const nav = useNavigate()
  const loc = useLocation()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [name, setName] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const from = (loc.state as { from?: string } | null)?.from ?? '/'
  if (session) return <Navigate to={from} replace />

  async function submit(e: FormEvent) {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      if (mode === 'login') await api.login(email, password)
      else await api.register(email, password, name)
      nav(from, { replace: true })
    } catch (err) {
      setError(errorText(err))
    } finally {
      setBusy(false)
    }
  }

  const title = mode === 'login' ? 'Log in' : 'Create your account'
  return (
    <>
      <TopBar />
      <main className="centered">
        <form className="card auth" onSubmit={submit} aria-labelledby="auth-title">
          <h1 id="auth-title">{title}</h1>
          <p className="muted">Design, optimize and run quantum circuits together.</p>
          {mode === 'register' && (
            <label>
              Name
              <input name="name" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} />
            </label>
          )}
          <label>
            Email
            <input name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
              required
              minLength={mode === 'register' ? 8 : undefined}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          {error && <p className="error" role="alert">{error}</p>}
          <button type="submit" className="primary" disabled={busy}>{busy ? 'Please wait…' : title}</button>
          <p className="muted">
            {mode === 'login' ? (
              <>No account yet? <Link to="/register" state={loc.state}>Sign up</Link></>
            ) : (
              <>Already have an account? <Link to="/login" state={loc.state}>Log in</Link></>
            )}
          </p>
        </form>
      </main>
    </>
  )
}
