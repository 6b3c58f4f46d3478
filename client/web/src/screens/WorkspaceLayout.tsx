import { NavLink, Outlet, useOutletContext, useParams } from 'react-router-dom'
import { useQuery } from '@tanstack/react-query'
import { useApp, useFeatures } from '../context'
import { TopBar } from '../components/TopBar'
import { Chat } from '../components/Chat'
import { useWorkspaceEvents, type StreamStatus } from '../events'
import type { Workspace, WsEvent } from '../api/types'
import { errorText } from './Auth'

export interface WorkspaceCtx { workspace: Workspace; feed: WsEvent[]; status: StreamStatus; canEdit: boolean; isOwner: boolean }

export function useWorkspace(): WorkspaceCtx {
  return useOutletContext<WorkspaceCtx>()
}

export function WorkspaceLayout() {
  const { ws = '' } = useParams()
  const { api } = useApp()
  const features = useFeatures()
  const wsq = useQuery({ queryKey: ['workspace', ws], queryFn: () => api.workspace(ws) })
  const { feed, status } = useWorkspaceEvents(api, ws)
  const w = wsq.data
  const nav = (
    <nav aria-label="Workspace" className="tabs">
      <strong className="ws-name">{w?.name ?? '…'}</strong>
      <NavLink end to={`/w/${ws}`}>Documents</NavLink>
      <NavLink to={`/w/${ws}/jobs`}>Jobs</NavLink>
      <NavLink to={`/w/${ws}/members`}>Members</NavLink>
      <NavLink to={`/w/${ws}/analytics`}>Analytics</NavLink>
      {w?.role === 'owner' && <NavLink to={`/w/${ws}/settings`}>Settings</NavLink>}
      {features.ai && <NavLink to={`/w/${ws}/ai`}>AI</NavLink>}
      {features.quests && <NavLink to={`/w/${ws}/quest`}>Quest</NavLink>}
      {features.leaderboard && <NavLink to={`/w/${ws}/leaderboard`}>Leaderboard</NavLink>}
      {features.notifications && <NavLink to={`/w/${ws}/notifications`}>Notifications</NavLink>}
      <span className={`stream ${status}`} title={`Live updates: ${status}`}>
        <span aria-hidden="true">●</span> {status === 'live' ? 'live' : status}
      </span>
    </nav>
  )
  if (wsq.error) {
    return (
      <>
        <TopBar />
        <main className="page"><p className="error" role="alert">{errorText(wsq.error)}</p></main>
      </>
    )
  }
  return (
    <>
      <TopBar>{nav}</TopBar>
      <div className="workspace">
        <main className="workspace-main">
          {w ? (
            <Outlet context={{ workspace: w, feed, status, canEdit: w.role !== 'viewer', isOwner: w.role === 'owner' } satisfies WorkspaceCtx} />
          ) : (
            <p role="status">Loading…</p>
          )}
        </main>
        <Chat ws={ws} />
      </div>
    </>
  )
}
