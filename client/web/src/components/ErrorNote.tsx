import { ApiError } from '../api/client'
import { errorText } from '../screens/Auth'

/** An API error as a person reads it, with the HTTP status and the error code after it
 *  (`409 assistant_busy`) for a bug report. */
export function ErrorNote({ error, testId }: { error: unknown; testId?: string }) {
  return (
    <p className="error" role="alert" data-testid={testId}>
      {errorText(error)}
      {error instanceof ApiError && (
        <>
          {' '}
          <code className="error-code">({error.status} {error.code})</code>
        </>
      )}
    </p>
  )
}
