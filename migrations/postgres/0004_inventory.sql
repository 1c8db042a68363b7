-- What AWS reports about the services and repositories pipelines point at, refreshed by the
-- engine on a timer so that pages read them from here instead of calling AWS per view.

-- One row per ECS service (by region, cluster and name; pipelines may share a service).
-- A failed look keeps the last good facts and records why it failed.
CREATE TABLE service_snapshots (
    region TEXT NOT NULL,
    cluster TEXT NOT NULL,
    service TEXT NOT NULL,
    status TEXT,
    task_definition TEXT,
    -- JSON object: container name -> image, from the live task definition.
    container_images TEXT NOT NULL DEFAULT '{}',
    desired_count BIGINT,
    running_count BIGINT,
    pending_count BIGINT,
    deployments BIGINT,
    observed_at BIGINT,
    error TEXT,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (region, cluster, service)
);

-- The newest images of each ECR repository, replaced as a whole by each listing.
CREATE TABLE registry_images (
    region TEXT NOT NULL,
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    -- JSON array of tags.
    tags TEXT NOT NULL DEFAULT '[]',
    size_bytes BIGINT,
    pushed_at BIGINT,
    PRIMARY KEY (region, repository, digest)
);
CREATE INDEX registry_images_newest ON registry_images (region, repository, pushed_at);

CREATE TABLE registry_listings (
    region TEXT NOT NULL,
    repository TEXT NOT NULL,
    repository_uri TEXT,
    image_count BIGINT,
    observed_at BIGINT,
    error TEXT,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (region, repository)
);

-- Periodic engine work shared by replicas: whoever moves due_at forward does the chore.
CREATE TABLE engine_chores (
    name TEXT PRIMARY KEY,
    due_at BIGINT NOT NULL
);
INSERT INTO engine_chores (name, due_at) VALUES ('inventory', 0);
