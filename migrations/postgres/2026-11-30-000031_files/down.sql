DROP TABLE product_images;
DROP TABLE files;
UPDATE plans SET quotas = (quotas::jsonb - 'storage_bytes')::text, features = (features::jsonb - 'max_file_bytes')::text;
