-- Report: AI-driven vs other calls per hour.
SELECT
  CAST(date_trunc('hour', event_time) AS VARCHAR) AS hour,
  count(*) FILTER (WHERE is_ai) AS ai,
  count(*) FILTER (WHERE NOT is_ai) AS human
FROM events
GROUP BY 1
ORDER BY 1
