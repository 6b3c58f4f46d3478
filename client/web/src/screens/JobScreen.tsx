import { Link, useParams } from 'react-router-dom'
import { useWorkspace } from './WorkspaceLayout'
import { JobCard } from '../components/JobCard'
import { JobAnalysis } from '../components/JobAnalysis'

export default function JobScreen() {
  const { job = '' } = useParams()
  const { workspace, canEdit } = useWorkspace()
  return (
    <div className="page stack">
      <p><Link to={`/w/${workspace.id}/jobs`}>← All jobs</Link></p>
      <JobCard jobId={job} ws={workspace.id} canEdit={canEdit} />
      <JobAnalysis jobId={job} />
    </div>
  )
}
