import { lazy, Suspense, type ReactNode } from 'react'
import { Navigate, Route, Routes, useLocation } from 'react-router-dom'
import { useApp } from './context'
import { NotificationsProvider } from './notifications'
import { NoticeToast } from './components/Notice'
import { AuthScreen } from './screens/Auth'
import { Home } from './screens/Home'
import { WorkspaceLayout } from './screens/WorkspaceLayout'
import { WorkspaceHome } from './screens/WorkspaceHome'

// Heavy screens load on demand: the composer pulls in Yjs and y-websocket.
const DocScreen = lazy(() => import('./screens/DocScreen'))
const JobsScreen = lazy(() => import('./screens/JobsScreen'))
const JobScreen = lazy(() => import('./screens/JobScreen'))
const MembersScreen = lazy(() => import('./screens/MembersScreen'))
const SettingsScreen = lazy(() => import('./screens/SettingsScreen'))
const NotificationsScreen = lazy(() => import('./screens/NotificationsScreen'))
const NotificationsPage = lazy(() => import('./screens/NotificationsScreen').then((m) => ({ default: m.NotificationsPage })))
const QuestScreen = lazy(() => import('./screens/QuestScreen'))
const ProgressScreen = lazy(() => import('./screens/ProgressScreen'))
const AiScreen = lazy(() => import('./screens/AiScreen'))
const AnalyticsScreen = lazy(() => import('./screens/AnalyticsScreen'))

function RequireAuth({ children }: { children: ReactNode }) {
  const { session } = useApp()
  const loc = useLocation()
  if (!session) return <Navigate to="/login" replace state={{ from: loc.pathname }} />
  return <>{children}</>
}

export function Loading() {
  return <div className="loading" role="status">Loading…</div>
}

export function App() {
  return (
    <NotificationsProvider>
      <Suspense fallback={<Loading />}>
        <Routes>
          <Route path="/login" element={<AuthScreen mode="login" />} />
          <Route path="/register" element={<AuthScreen mode="register" />} />
          <Route path="/" element={<RequireAuth><Home /></RequireAuth>} />
          <Route path="/notifications" element={<RequireAuth><NotificationsPage /></RequireAuth>} />
          <Route path="/w/:ws" element={<RequireAuth><WorkspaceLayout /></RequireAuth>}>
            <Route index element={<WorkspaceHome />} />
            <Route path="d/:doc" element={<DocScreen />} />
            <Route path="jobs" element={<JobsScreen />} />
            <Route path="jobs/:job" element={<JobScreen />} />
            <Route path="members" element={<MembersScreen />} />
            <Route path="analytics" element={<AnalyticsScreen />} />
            <Route path="settings" element={<SettingsScreen />} />
            <Route path="quest" element={<QuestScreen />} />
            <Route path="quest/:key" element={<QuestScreen />} />
            <Route path="leaderboard" element={<ProgressScreen />} />
            <Route path="ai" element={<AiScreen />} />
            <Route path="x/ai" element={<Navigate to="../ai" replace />} />
            <Route path="notifications" element={<NotificationsScreen />} />
            <Route path="x/notifications" element={<Navigate to="../notifications" replace />} />
          </Route>
          <Route path="*" element={<NotFound />} />
        </Routes>
      </Suspense>
      <NoticeToast />
    </NotificationsProvider>
  )
}

function NotFound() {
  return (
    <main className="centered">
      <h1>Not found</h1>
      <p><a href="/">Back to your workspaces</a></p>
    </main>
  )
}
