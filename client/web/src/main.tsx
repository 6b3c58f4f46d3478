import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { BrowserRouter } from 'react-router-dom'
import { Api, ApiError, LocalStore } from './api/client'
import { AppProvider } from './context'
import { App } from './App'
import './styles.css'

const api = new Api({ store: new LocalStore() })
const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      retry: (n, e) => !(e instanceof ApiError && e.status >= 400 && e.status < 500) && n < 2,
      refetchOnWindowFocus: false,
    },
  },
})

const root = document.getElementById('root')
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <AppProvider api={api}>
            <App />
          </AppProvider>
        </BrowserRouter>
      </QueryClientProvider>
    </StrictMode>,
  )
}
