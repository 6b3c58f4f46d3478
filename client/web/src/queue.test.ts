import { describe, expect, it } from 'vitest'
import { QUEUE_POSITION_CAP, queuePlace } from './queue'

describe('queuePlace', () => {
  it('numbers the places from one', () => {
    expect(queuePlace(0)).toBe('#1')
    expect(queuePlace(998)).toBe('#999')
  })
  it('says "or more" at the server\'s cap', () => {
    expect(queuePlace(QUEUE_POSITION_CAP)).toBe('1,000+ ahead')
  })
})
