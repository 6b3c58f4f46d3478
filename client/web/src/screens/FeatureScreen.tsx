// Panels for capabilities the server advertises in its OpenAPI document that have no
// screen of their own yet (notifications). They appear only when the paths exist.
import { useParams } from 'react-router-dom'
import { useFeatures } from '../context'

const TITLES: Record<string, { title: string; re: RegExp }> = {
  notifications: { title: 'Notifications', re: /notification/ },
}

export default function FeatureScreen() {
  const { feature = '' } = useParams()
  const f = useFeatures()
  const t = TITLES[feature]
  if (!t) return <div className="page"><h1>Unknown panel</h1></div>
  const paths = f.paths.filter((p) => t.re.test(p))
  return (
    <div className="page">
      <h1>{t.title}</h1>
      {paths.length === 0 ? (
        <p className="muted">This server does not offer this feature.</p>
      ) : (
        <>
          <p>The server offers these endpoints:</p>
          <ul>{paths.map((p) => <li key={p}><code>{p}</code></li>)}</ul>
        </>
      )}
    </div>
  )
}
