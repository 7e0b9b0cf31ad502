-- A messaging channel's letters by their writer (jsjb_storage::sender_contact_key), for
-- 「进度」 in the chat. The expressions are the ones citizen.rs letters_from_sender
-- queries with, so that the planner uses these indexes.
CREATE INDEX letters_wechat_sender ON letters (((writer_extra::jsonb) ->> 'wechat_openid'), received_at)
    WHERE channel = 'wechat';
CREATE INDEX letters_weibo_sender ON letters (((writer_extra::jsonb) ->> 'weibo_uid'), received_at)
    WHERE channel = 'weibo';
