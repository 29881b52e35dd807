-- Events ingested from a log file whose latest integrity check found it changed after delivery
-- (`modified`) or unknown to CloudTrail's digests (`not-in-digest`): evidence to treat with care.
SELECT e.*, i.status AS integrity_status, i.detail AS integrity_detail
FROM events e
JOIN integrity_status i ON e.source_object = i.object
WHERE i.status IN ('modified', 'not-in-digest')
