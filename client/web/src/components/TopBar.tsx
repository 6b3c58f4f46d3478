import { Link, useNavigate } from 'react-router-dom'
import { useApp } from '../context'
import { Bell } from './Bell'

export function TopBar({ children }: { children?: React.ReactNode }) {
  const { session, theme, setTheme, signOut } = useApp()
  const nav = useNavigate()
  return (
    <header className="topbar">
      <Link to="/" className="brand" aria-label="Qollab home">
        <span aria-hidden="true" className="logo">◎</span> Qollab
      </Link>
      <div className="topbar-middle">{children}</div>
      <button
        type="button"
        className="ghost"
        onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
        aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
      >
        {theme === 'dark' ? '☀ Light' : '☾ Dark'}
      </button>
      {session && (
        <>
          <Bell />
          <span className="me" title={session.user.email}>{session.user.name}</span>
          <button
            type="button"
            className="ghost"
            data-testid="logout"
            onClick={async () => {
              await signOut()
              nav('/login', { replace: true })
            }}
          >
            Log out
          </button>
        </>
      )}
    </header>
  )
}
