export function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}

  return items.filter((item) => item.length > 0);
}
