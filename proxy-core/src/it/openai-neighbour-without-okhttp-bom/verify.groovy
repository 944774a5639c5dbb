// The build must have failed for the reason under test: OkHttp's classes twice, from okhttp 4
// (openai-java's) and okhttp-jvm 5 (proxy-core's). Any other failure (a download, a typo) is not
// proof that the check works.
def log = new File(basedir, 'build.log').text
assert log.contains('BanDuplicateClasses failed')
assert log.contains('com.squareup.okhttp3:okhttp:jar:4.')
assert log.contains('com.squareup.okhttp3:okhttp-jvm:jar:')
assert log.contains('okhttp3/OkHttpClient.class')
return true
