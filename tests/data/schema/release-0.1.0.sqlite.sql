-- The store of proctor 0.1.0 (commit ad6d33c) as that release created it on sqlite:
-- CREATE statements compiled from its server/store/schema.py. tests/test_migrations.py upgrades it.

CREATE TABLE jobs (
	id VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	source VARCHAR(2048) NOT NULL, 
	path VARCHAR(4096) NOT NULL, 
	owns_file BOOLEAN NOT NULL, 
	params JSON NOT NULL, 
	session_id VARCHAR(64), 
	frames_done INTEGER NOT NULL, 
	frames_total INTEGER NOT NULL, 
	eta_seconds FLOAT, 
	error VARCHAR(1000), 
	attempts INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_jobs_created_at ON jobs (created_at);

CREATE INDEX ix_jobs_state ON jobs (state);

CREATE TABLE sessions (
	id VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	start_time DATETIME NOT NULL, 
	end_time DATETIME, 
	end_reason VARCHAR(32), 
	last_activity FLOAT NOT NULL, 
	job_data JSON NOT NULL, 
	frames_received INTEGER NOT NULL, 
	frames_analyzed INTEGER NOT NULL, 
	alert_count INTEGER NOT NULL, 
	face_embedding BLOB, 
	embedder VARCHAR(64), 
	registration JSON, 
	document JSON, 
	state JSON NOT NULL, 
	version INTEGER NOT NULL, 
	report JSON, 
	kind VARCHAR(16) NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE alerts (
	id INTEGER NOT NULL, 
	session_id VARCHAR(64) NOT NULL, 
	frame_number INTEGER, 
	timestamp FLOAT NOT NULL, 
	type VARCHAR(40) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	message VARCHAR(300) NOT NULL, 
	extra JSON NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE
);

CREATE INDEX ix_alerts_session_id ON alerts (session_id);

CREATE TABLE frames (
	session_id VARCHAR(64) NOT NULL, 
	frame_number INTEGER NOT NULL, 
	timestamp FLOAT NOT NULL, 
	analyzed BOOLEAN NOT NULL, 
	result JSON, 
	signals JSON, 
	PRIMARY KEY (session_id, frame_number), 
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE
);

CREATE TABLE verifications (
	id INTEGER NOT NULL, 
	session_id VARCHAR(64) NOT NULL, 
	frame_number INTEGER, 
	timestamp FLOAT NOT NULL, 
	verified BOOLEAN NOT NULL, 
	similarity FLOAT NOT NULL, 
	message VARCHAR(200) NOT NULL, 
	threshold FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE
);

CREATE INDEX ix_verifications_session_id ON verifications (session_id);
