DROP TABLE product_images;
DROP TABLE files;
UPDATE plans SET quotas = json_remove(quotas, '$.storage_bytes'), features = json_remove(features, '$.max_file_bytes');
