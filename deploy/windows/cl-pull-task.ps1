<#
.SYNOPSIS
Registers cl-pull as an hourly Task Scheduler task that runs as a service account.

.DESCRIPTION
Run once, in an elevated PowerShell, from the unpacked release archive:

    .\deploy\windows\cl-pull-task.ps1 -Account 'CORP\svc-cl' -Settings 'C:\ProgramData\cl-pull\pull.conf'

The settings file is cl-pull's (examples\pull.conf); its relative paths are its own
directory's. The task runs "cl-pull.exe SETTINGS" every hour from -At on, whether or not the
account is logged on, never twice at once (and cl-pull's own lock would skip an overlapping
run anyway). The key file named by COMPLIANCE_API_KEY_FILE is made readable by that account,
SYSTEM and Administrators only, and the account may modify the settings directory (the state,
the lake and the log live there unless the settings say otherwise).

For a group managed service account (no password), give -Account 'CORP\svc-cl$' -Gmsa.
#>
param(
    [Parameter(Mandatory)] [string] $Account,
    [Parameter(Mandatory)] [string] $Settings,
    [string] $Program = (Join-Path $PSScriptRoot '..\..\cl-pull.exe'),
    [string] $TaskName = 'cl-pull',
    [string] $At = '00:17',
    [switch] $Gmsa
)
$ErrorActionPreference = 'Stop'
$Program = (Resolve-Path $Program).Path
$Settings = (Resolve-Path $Settings).Path
$dir = Split-Path -Parent $Settings

# The key file, as the settings name it (relative to the settings file's directory).
$keyLine = Select-String -Path $Settings -Pattern '^\s*COMPLIANCE_API_KEY_FILE=(.*)$' | Select-Object -Last 1
if ($keyLine) {
    $key = $keyLine.Matches[0].Groups[1].Value.Trim().Trim('"', "'")
    if (-not [System.IO.Path]::IsPathRooted($key)) { $key = Join-Path $dir $key }
    icacls $key /inheritance:r /grant:r "${Account}:R" '*S-1-5-18:F' '*S-1-5-32-544:F' | Out-Null
}
icacls $dir /grant "${Account}:(OI)(CI)M" | Out-Null

$action = New-ScheduledTaskAction -Execute $Program -Argument "`"$Settings`"" -WorkingDirectory $dir
$trigger = New-ScheduledTaskTrigger -Once -At $At -RepetitionInterval (New-TimeSpan -Hours 1)
$options = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -StartWhenAvailable `
    -ExecutionTimeLimit (New-TimeSpan -Hours 1)
if ($Gmsa) {
    $principal = New-ScheduledTaskPrincipal -UserId $Account -LogonType Password -RunLevel Limited
    Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger `
        -Settings $options -Principal $principal | Out-Null
} else {
    $credential = Get-Credential -UserName $Account `
        -Message "The password of ${Account}, as the task runs whether or not it is logged on"
    Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger `
        -Settings $options -User $Account -RunLevel Limited `
        -Password $credential.GetNetworkCredential().Password | Out-Null
}
Write-Output "registered task '$TaskName': $Program `"$Settings`" every hour from $At as $Account"
